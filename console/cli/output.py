"""Number formatting for terminal output."""

from __future__ import annotations

from console.domain.times import describe_age


def rate(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def latency(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 1000:
        return f"{value / 1000:.2f} s"
    return f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"


def count(value: int) -> str:
    return f"{value:,}"


def age(since_ms: int | None, now_ms: int) -> str:
    return "-" if since_ms is None else describe_age(now_ms - since_ms)


def table(headers: list[str], rows: list[list[str]], right: set[int] | None = None) -> str:
    """A plain aligned text table (first column left, numbers right)."""
    right = right if right is not None else set(range(1, len(headers)))
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    lines = []
    for row in [headers, *rows]:
        cells = [
            str(c).rjust(w) if i in right else str(c).ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
