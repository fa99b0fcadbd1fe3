"""Regenerate docs/dashboard.svg (README's picture) with the console's own screenshot support:
`.venv/bin/python docs/screenshot.py` (the committed sample data, the dashboard's 24 h window)."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from console.domain.times import parse_rfc3339_ms
from console.ingest.service import ingest_sources
from console.operations import Operations
from console.store import open_store
from console.tui.app import make_app

ROOT = Path(__file__).resolve().parent.parent
END = parse_rfc3339_ms("2026-11-01T00:00:00Z") - 16 * 3_600_000  # just after the sample's gift-card outage


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "sample.db"
        ingest_sources(open_store(str(db)), [str(ROOT / "sample_data" / "deliveries.jsonl.gz")])
        app = make_app(
            None,
            "",
            3600,
            ops=Operations(str(db), ROOT / "sample_data" / "endpoints.toml", clock=lambda: END),
        )
        async with app.run_test(size=(120, 34)) as pilot:
            for key in ("", "3"):
                if key:
                    await pilot.press(key)
                for _ in range(3):
                    await pilot.pause()
                    await app.workers.wait_for_complete()
            app.save_screenshot(str(ROOT / "docs" / "dashboard.svg"))


if __name__ == "__main__":
    asyncio.run(main())
