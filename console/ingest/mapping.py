"""Mapped logs: a TOML mapping file says where each delivery-log field is in an operator's own JSON lines (or
CSV columns), and where the payload keeps its business fields (`[payload]`). `load_mapping` reads and checks
the file; `apply` turns one decoded line into a line of the log format (or SKIP when `[match]` says it is not
a delivery attempt), so every later rule (`parse_line`, the one writer, rollups) is the same as for native
logs. The format is described in docs/mapped-logs.md.
"""

from __future__ import annotations

import difflib
import enum
import math
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson

from console.domain.payload_fields import DEFAULT_PATHS, FIELD_KEYS, FieldPaths, path_problem
from console.domain.records import LOG_FIELDS, AttemptRecord, EventRecord
from console.domain.times import format_ms
from console.ingest.lines import LineError, _kind, parse_line
from console.ingest.log_files import REQUIRED_FIELDS, UNDECODED, RawLine, json_error
from console.tomlconfig import MAX_CONFIG_BYTES, ConfigError, Problems, TooLarge, read_capped

# Every field of the log format (docs/log-format.md), as the record declaration names them.
FIELDS = LOG_FIELDS
# Milliseconds per unit of each `attempted_at` format; rfc3339 takes strings and has no unit.
TIME_FORMATS = {"rfc3339": 0, "epoch_s": 1000, "epoch_ms": 1, "epoch_us": 0.001, "epoch_ns": 0.000001}
SECTIONS = ("match", "fields", "defaults", "payload")
MAX_MS = 253_402_300_800_000  # 10000-01-01T00:00:00Z, where RFC 3339 ends


class MappingError(ConfigError, ValueError):
    """A mapping file that cannot be used; `problems` lists every reason, one line each naming the file and
    the key at fault."""


class Skip(enum.Enum):
    """What `apply` returns for a line that `[match]` says is not a delivery attempt."""

    SKIP = "skip"


SKIP = Skip.SKIP
_MISSING: Any = object()
Converter = Callable[[Any, "FieldSpec"], Any]


@dataclass(frozen=True)
class FieldSpec:
    """Where one log-format field is found in the operator's line, and how its value is read."""

    name: str
    path: str
    parts: tuple[str, ...]
    time_format: str = "rfc3339"
    scale: float | None = None
    other_routes: tuple[tuple[str, ...], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "other_routes", _other_routes(self.parts))

    @property
    def label(self) -> str:
        """How errors name the field: `attempt (webhook.try)`."""
        return f"{self.name} ({self.path})"


@dataclass(frozen=True)
class MatchRule:
    """Only lines whose value at `path` equals `equals` (or one of them, for a list) are delivery attempts."""

    path: str
    parts: tuple[str, ...]
    equals: tuple[Any, ...]
    routes: tuple[tuple[str, ...], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "routes", (self.parts, *_other_routes(self.parts)))


@dataclass(frozen=True)
class LogMapping:
    """A checked mapping file: where each field is, constants for fields the log lacks, the match rule, and
    where payloads keep their business fields."""

    source: str
    fields: tuple[FieldSpec, ...]
    defaults: Mapping[str, Any]
    match: MatchRule | None = None
    payload_paths: FieldPaths = DEFAULT_PATHS
    plan: tuple[tuple[FieldSpec, Converter | None], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "plan", tuple((f, _CONVERTERS.get(f.name)) for f in self.fields))

    def csv_columns(self) -> tuple[str, ...]:
        """The CSV columns a mapped CSV file must have: those of required fields without a default, and the
        match column."""
        needed = [f.path for f in self.fields if f.name in REQUIRED_FIELDS and f.name not in self.defaults]
        if self.match is not None:
            needed.append(self.match.path)
        return tuple(dict.fromkeys(needed))

    def label(self, name: str) -> str:
        """How errors name a log-format field: with its path when mapped, `(default)` when a constant."""
        for spec in self.fields:
            if spec.name == name:
                return spec.label
        return f"{name} (default)" if name in self.defaults else name

    def relabel(self, reason: str) -> str:
        """A reason given for a log-format field (`payload: required ...`) with the field's path added."""
        name, colon, rest = reason.partition(": ")
        if colon and name in FIELDS:
            return f"{self.label(name)}: {rest}"
        return reason


# ---------------------------------------------------------------------------------------------- loading


def load_mapping(path: str | Path) -> LogMapping:
    """Read and check a mapping file; MappingError lists every problem, one line each naming the file and key."""
    name = str(path)
    try:
        text = read_capped(Path(path), MAX_CONFIG_BYTES).decode("utf-8")
    except TooLarge as exc:
        raise MappingError([f"{name}: {exc} (a mapping file is at most that)"]) from None
    except FileNotFoundError:
        raise MappingError([f"{name}: no such file"]) from None
    except IsADirectoryError:
        raise MappingError([f"{name}: is a directory, not a mapping file"]) from None
    except OSError as exc:
        raise MappingError([f"{name}: cannot be read ({exc.strerror})"]) from None
    except UnicodeDecodeError as exc:
        raise MappingError([f"{name}: not valid UTF-8 ({exc.reason} at byte {exc.start})"]) from None
    return parse_mapping(text, name)


def parse_mapping(text: str, source: str = "<mapping>") -> LogMapping:
    """Check a mapping given as TOML text; `source` names it in errors."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MappingError([f"{source}: not valid TOML ({exc})"]) from None
    problems = Problems(source)
    tables: dict[str, dict[str, Any]] = {}
    for section, value in document.items():
        if section not in SECTIONS:
            problems.add(section, f"unknown section (expected {', '.join(f'[{s}]' for s in SECTIONS)})")
        elif not isinstance(value, dict):
            problems.add(section, f"must be a table ([{section}]), got {_toml_kind(value)}")
        else:
            tables[section] = value
    if "fields" not in document:
        problems.add("fields", "missing: the [fields] table says where each field is in your lines")
    specs = [_field_spec(name, value, problems) for name, value in tables.get("fields", {}).items()]
    defaults = {name: _default(name, value, problems) for name, value in tables.get("defaults", {}).items()}
    present = set(tables.get("fields", {})) | set(tables.get("defaults", {}))
    missing = [name for name in REQUIRED_FIELDS if name not in present]
    if missing and "fields" in tables:
        problems.add(
            f"fields.{missing[0]}",
            "missing: required fields need a path in [fields] (or a constant in [defaults]): "
            + ", ".join(missing),
        )
    match = _match_rule(tables["match"], problems) if "match" in tables else None
    payload_paths = _payload_paths(tables.get("payload", {}), problems)
    if problems.lines:
        raise MappingError(problems.lines)
    fields = tuple(spec for spec in specs if spec is not None)
    return LogMapping(source, fields, defaults, match, payload_paths)


def _payload_paths(table: dict[str, Any], problems: Problems) -> FieldPaths:
    """The business-field paths of `[payload]`: each key a field, its value a path or a list of paths tried
    in order (inside the payload); the defaults for the fields it does not name."""
    paths = DEFAULT_PATHS
    for name, value in table.items():
        key = f"payload.{name}"
        if name not in FIELD_KEYS:
            close = difflib.get_close_matches(name, FIELD_KEYS, n=1)
            hint = f"did you mean {close[0]}?" if close else f"known: {', '.join(FIELD_KEYS)}"
            problems.add(key, f"unknown business field ({hint})")
            continue
        candidates = value if isinstance(value, list) else [value]
        if not candidates or not all(isinstance(c, str) for c in candidates):
            problems.add(
                key,
                f'must be a dotted path inside the payload ("data.{FIELD_KEYS[name]}") or a non-empty list of '
                f"them, got {_toml_show(value) if isinstance(value, list) else _toml_kind(value)}",
            )
            continue
        problem = next(filter(None, (path_problem(name, c) for c in candidates)), None)
        if problem:
            problems.add(key, problem)
            continue
        paths = paths.with_path(name, candidates)
    return paths


def _field_spec(name: str, value: Any, problems: Problems) -> FieldSpec | None:
    """The field's spec, or None after adding its problems."""
    key = f"fields.{name}"
    if name not in FIELDS:
        problems.add(key, _unknown_field(name))
        return None
    if isinstance(value, str):
        found = _path_parts(value, key, problems)
        return FieldSpec(name, value, found) if found else None
    if not isinstance(value, dict):
        problems.add(
            key, f'must be a path ("a.b") or a table {{ path = "a.b", ... }}, got {_toml_kind(value)}'
        )
        return None
    before = len(problems.lines)
    allowed = (
        {"path"}
        | ({"format"} if name == "attempted_at" else set())
        | ({"scale"} if name == "latency_ms" else set())
    )
    for option in value:
        if option not in allowed:
            if option in ("format", "scale"):
                owner = "attempted_at" if option == "format" else "latency_ms"
                problems.add(f"{key}.{option}", f"only {owner} takes a {option}")
            else:
                problems.add(f"{key}.{option}", f"unknown key (expected {', '.join(sorted(allowed))})")
    path = value.get("path")
    parts: tuple[str, ...] | None = None
    if path is None:
        problems.add(f"{key}.path", "missing: where the field is in your lines")
    elif not isinstance(path, str):
        problems.add(f"{key}.path", f"must be a string, got {_toml_kind(path)}")
    else:
        parts = _path_parts(path, f"{key}.path", problems)
    time_format = value.get("format", "rfc3339")
    if "format" in allowed and time_format not in TIME_FORMATS:
        problems.add(
            f"{key}.format", f"must be one of {', '.join(TIME_FORMATS)}, got {_toml_show(time_format)}"
        )
    scale = value.get("scale") if "scale" in allowed else None
    if scale is not None:
        if isinstance(scale, bool) or not isinstance(scale, int | float):
            problems.add(f"{key}.scale", f"must be a number (e.g. 1000 for seconds), got {_toml_show(scale)}")
        elif not math.isfinite(scale) or scale <= 0:
            problems.add(f"{key}.scale", f"must be a number > 0, got {scale!r}")
        else:
            scale = float(scale)
    if len(problems.lines) > before or parts is None:
        return None
    return FieldSpec(name, str(path), parts, time_format, scale)


def _unknown_field(name: str) -> str:
    close = difflib.get_close_matches(name, FIELDS, n=1)
    if close:
        return f"unknown field (did you mean {close[0]}?)"
    return f"unknown field (the log format has {', '.join(FIELDS)})"


def _path_parts(path: str, key: str, problems: Problems) -> tuple[str, ...] | None:
    parts = tuple(path.split("."))
    if not path or any(not part for part in parts):
        problems.add(key, f'must be a dotted path like "http.status", got {path!r}')
        return None
    return parts


def _default(name: str, value: Any, problems: Problems) -> Any:
    """The constant, converted as a mapped value would be (None after adding its problem)."""
    key = f"defaults.{name}"
    if name not in FIELDS:
        problems.add(key, _unknown_field(name))
    elif name == "payload":
        problems.add(key, "an event's payload cannot be a constant; map it in [fields]")
    elif isinstance(value, list) or (isinstance(value, dict) and name != "request_headers"):
        problems.add(key, f"must be a single value, got {_toml_kind(value)}")
    elif not isinstance(value, str | int | float | bool | dict):
        problems.add(key, f"must be a string or a number, got {_toml_kind(value)}")
    else:
        try:
            converted = _CONVERTERS.get(name, _as_is)(value, FieldSpec(name, "default", ()))
            probe = {"event_id": "e", "event_type": "t", "endpoint_id": "p", "attempt": 1}
            probe["attempted_at"] = "2026-01-01T00:00:00Z"
            parse_line({**probe, name: converted})
        except LineError as exc:
            problems.add(key, exc.reason)
        else:
            return converted
    return None


def _match_rule(table: dict[str, Any], problems: Problems) -> MatchRule | None:
    before = len(problems.lines)
    for option in table:
        if option not in ("path", "equals"):
            problems.add(f"match.{option}", "unknown key (expected path, equals)")
    path = table.get("path")
    parts: tuple[str, ...] | None = None
    if "path" not in table:
        problems.add("match.path", "missing: where the value that marks a delivery attempt is")
    elif not isinstance(path, str):
        problems.add("match.path", f"must be a string, got {_toml_kind(path)}")
    else:
        parts = _path_parts(path, "match.path", problems)
    values: tuple[Any, ...] = ()
    if "equals" not in table:
        problems.add("match.equals", "missing: the value at match.path that marks a delivery attempt")
    else:
        equals = table["equals"]
        values = tuple(equals) if isinstance(equals, list) else (equals,)
        if not values or not all(isinstance(v, str | int | float | bool) for v in values):
            problems.add("match.equals", "must be a string, number or boolean, or a non-empty list of them")
    if len(problems.lines) > before or parts is None:
        return None
    assert isinstance(path, str)
    return MatchRule(path, parts, values)


def _toml_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return type(value).__name__


def _toml_show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# ------------------------------------------------------------------------------------------------ lines


def apply(mapping: LogMapping, line: Any) -> dict[str, Any] | Literal[Skip.SKIP]:
    """The log-format line that `line` (a decoded JSON value or a CSV row) stands for, or SKIP.

    Raises LineError naming the field and its path (`attempt (webhook.try)`) when a value cannot be read.
    """
    rule = mapping.match
    if rule is not None:
        found = _lookup(line, rule.routes)
        if found is _MISSING or not any(_same(found, wanted) for wanted in rule.equals):
            return SKIP
    elif not isinstance(line, dict):
        raise LineError(None, f"must be a JSON object, got {_kind(line)}")
    out = dict(mapping.defaults)
    for spec, converter in mapping.plan:
        value = line
        for part in spec.parts:  # _lookup inlined: this loop runs for every field of every line
            value = value.get(part, _MISSING) if type(value) is dict else _MISSING
        if value is _MISSING and spec.other_routes:
            value = _lookup(line, spec.other_routes)
        if value is None or value is _MISSING:
            continue
        out[spec.name] = value if converter is None else converter(value, spec)
    return out


def parse_mapped(
    mapping: LogMapping, record: RawLine
) -> tuple[AttemptRecord, EventRecord | None] | str | Literal[Skip.SKIP]:
    """The records of one mapped source record, SKIP, or the reason it is rejected (fields named with their
    paths). The mapped counterpart of `service.parse_record`; it skips the msgspec fast path."""
    if record.error is not None:
        return record.error
    value = record.value
    if value is UNDECODED:
        try:
            value = orjson.loads(record.raw)
        except orjson.JSONDecodeError as exc:
            return json_error(exc, record.raw)
    try:
        line = apply(mapping, value)
        if line is SKIP:
            return SKIP
        return parse_line(line, paths=mapping.payload_paths)
    except LineError as exc:
        return mapping.relabel(str(exc))


def _lookup(node: Any, routes: tuple[tuple[str, ...], ...]) -> Any:
    """The value found by the first route (a sequence of keys) that leads somewhere; _MISSING when none does."""
    for route in routes:
        value = node
        for key in route:
            if type(value) is dict:
                value = value.get(key, _MISSING)
            elif type(value) is list and key.isdigit() and int(key) < len(value):
                value = value[int(key)]
            else:
                value = _MISSING
            if value is _MISSING:
                break
        else:
            return value
    return _MISSING


MAX_ROUTED_PARTS = 6


def _other_routes(parts: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    """The other ways to read a dotted path: keys that contain dots (`{"http.status": 1}` for `http.status`,
    every grouping of the parts, whole keys first) and, when a part is a number, list indexes too."""
    if len(parts) < 2:
        return (parts,) if parts and parts[0].isdigit() else ()
    if len(parts) > MAX_ROUTED_PARTS:
        groupings: list[tuple[str, ...]] = [(".".join(parts),)]
    else:
        groupings = []
        for cuts in range(2 ** (len(parts) - 1)):
            route, start = [], 0
            for index in range(1, len(parts)):
                if cuts >> (index - 1) & 1:
                    route.append(".".join(parts[start:index]))
                    start = index
            route.append(".".join(parts[start:]))
            groupings.append(tuple(route))
        groupings.sort(key=len)
    routes = [route for route in groupings if route != parts]
    if any(part.isdigit() for part in parts):
        routes.insert(0, parts)  # the first walk in `apply` reads objects only
    return tuple(routes)


def _same(found: Any, wanted: Any) -> bool:
    """Equal and of the same kind, so `true` does not match `1` (numbers compare as numbers)."""
    if isinstance(found, bool) or isinstance(wanted, bool):
        return found is wanted
    if isinstance(found, int | float) and isinstance(wanted, int | float):
        return bool(found == wanted)
    return type(found) is type(wanted) and bool(found == wanted)


# ---------------------------------------------------------------------------------- value conversions
# Each takes the value found at a field's path and returns what the log format wants there, or leaves a value
# it cannot read as it is so that `parse_line` rejects it with its usual reason.


def _as_is(value: Any, spec: FieldSpec) -> Any:
    return value


def _identifier(value: Any, spec: FieldSpec) -> Any:
    """Integer ids (`"id": 12345`) are read as their decimal text."""
    if type(value) is int:
        return str(value)
    return value


def _integer(value: Any, spec: FieldSpec) -> Any:
    """`"3"` reads as 3 (digits only, surrounding spaces allowed)."""
    if type(value) is str:
        text = value.strip()
        if text.isdigit() and text.isascii():
            return int(text)
    return value


def _status(value: Any, spec: FieldSpec) -> Any:
    """`"503"` and Go's status text `"503 Service Unavailable"` read as 503; 0, `""` and `"0"` as no response."""
    if type(value) is str:
        text = value.strip()
        head = text[:3]
        if text in ("", "0"):
            return None
        if head.isdigit() and head.isascii() and (len(text) == 3 or text[3] == " "):
            return int(head)
        return value
    if type(value) is int and value == 0:
        return None
    return value


def _number(value: Any, spec: FieldSpec) -> Any:
    """`"12.5"` reads as 12.5; the result is multiplied by the field's scale."""
    if type(value) is str:
        try:
            number = float(value)
        except ValueError:
            return value
        value = number if math.isfinite(number) else value
    if spec.scale is not None and type(value) in (int, float):
        return value * spec.scale
    return value


def _time(value: Any, spec: FieldSpec) -> Any:
    """An epoch number (or numeric string) in the field's unit, as RFC 3339; rfc3339 strings pass through."""
    unit = TIME_FORMATS[spec.time_format]
    if not unit:
        if type(value) in (int, float):
            raise LineError(
                spec.name,
                f"must be an RFC 3339 string, got a number ({value!r}); for epoch times set "
                'format = "epoch_s" (or epoch_ms, epoch_us, epoch_ns) in the mapping',
            )
        return value
    number = value
    if type(value) is str:
        try:
            number = float(value) if not value.strip().isdigit() else int(value)
        except ValueError:
            number = None
    if type(number) not in (int, float) or not math.isfinite(number):
        raise LineError(spec.name, f"must be a number of {_UNIT_NAMES[spec.time_format]}, got {value!r}")
    ms = round(number * unit)
    if not 0 <= ms < MAX_MS:
        hint = " (is the format right?)" if ms >= MAX_MS else ""
        raise LineError(spec.name, f"{value!r} {_UNIT_NAMES[spec.time_format]} is out of range{hint}")
    return _ms_text(ms)


_HOUR_TEXT: dict[int, str] = {}


def _ms_text(ms: int) -> str:
    """`format_ms`, reusing the hour's text: epoch times turn into RFC 3339 for every mapped line."""
    hour, rest = divmod(ms, 3_600_000)
    prefix = _HOUR_TEXT.get(hour)
    if prefix is None:
        if len(_HOUR_TEXT) > 100_000:
            _HOUR_TEXT.clear()
        prefix = _HOUR_TEXT[hour] = format_ms(hour * 3_600_000)[:14]  # "2026-05-05T10:"
    minute, rest = divmod(rest, 60_000)
    second, milli = divmod(rest, 1000)
    return f"{prefix}{minute:02d}:{second:02d}.{milli:03d}Z"


def _object(value: Any, spec: FieldSpec) -> Any:
    """A string holding a JSON object reads as that object (request headers logged as text)."""
    if type(value) is str:
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            raise LineError(spec.name, f"is not valid JSON ({exc})") from None
    return value


_UNIT_NAMES = {
    "epoch_s": "seconds since the epoch",
    "epoch_ms": "milliseconds since the epoch",
    "epoch_us": "microseconds since the epoch",
    "epoch_ns": "nanoseconds since the epoch",
}
_CONVERTERS: dict[str, Converter] = {
    "event_id": _identifier,
    "endpoint_id": _identifier,
    "attempt": _integer,
    "attempted_at": _time,
    "status_code": _status,
    "latency_ms": _number,
    "request_headers": _object,
}
