"""Replay throughput against the sandbox receiver (a separate uvicorn process).

1. Receiver with 50 ms latency: 5,000 undelivered events at concurrency 50; throughput as a share of the ideal
   concurrency / latency = 1,000/s (target >= 0.85).
2. Receiver with no latency: replay throughput against a bare httpx loop sending the same (pre-signed)
   requests through the same client pool and concurrency, in the same run (bookkeeping, signing and storing
   should cost at most 20%: ratio >= 0.8).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import report
from console import aio
from console.delivery import ClientPool
from console.domain.filters import DeliveryFilter, DeliveryState
from console.domain.replay import ReplaySelection
from console.endpoints import load_endpoints
from console.ingest.service import ingest_sources
from console.replay.service import ReplayService
from console.signing import sign
from console.store import open_store

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
CONCURRENCY = 50


def _write_log(path: Path, events: int) -> None:
    with path.open("w") as out:
        for i in range(events):
            payload = f'{{"event":"reward.redeemed","event_id":"evt_{i:06d}","user_id":"user_{i % 997}","amount":500,"currency":"INR"}}'
            out.write(
                f'{{"event_id":"evt_{i:06d}","event_type":"reward.redeemed","endpoint_id":"ep_bench","attempt":1,'
                f'"attempted_at":"2026-05-05T10:00:00Z","status_code":503,"latency_ms":5,"payload":{payload}}}\n'
            )


def _receiver(folder: Path, latency_ms: int) -> tuple[subprocess.Popen[bytes], int]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "console",
            "--endpoints",
            str(folder / "endpoints.toml"),
            "receiver",
            "--port",
            "0",
            "--latency-ms",
            str(latency_ms),
        ],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
    )
    assert process.stderr is not None
    line = process.stderr.readline().decode()
    match = re.search(r":(\d+) for", line)
    if not match:
        process.kill()
        raise RuntimeError(f"receiver did not start: {line}")
    return process, int(match.group(1))


def _setup(folder: Path, port: int, events: int) -> ReplayService:
    (folder / "secret").write_text(SECRET)
    (folder / "endpoints.toml").write_text(
        f'[[endpoint]]\nid = "ep_bench"\nurl = "http://127.0.0.1:{port}/hooks/bench"\nscheme = "standard"\n'
        'secret = "file:secret"\nmax_tries = 1\n'
    )
    db = folder / f"replay-{port}.db"
    store = open_store(str(db))
    _write_log(folder / "log.jsonl", events)
    ingest_sources(store, [str(folder / "log.jsonl")])
    return ReplayService(store, load_endpoints(folder / "endpoints.toml"))


def _replay_rate(service: ReplayService, events: int) -> float:
    plan = service.plan(
        ReplaySelection(DeliveryFilter(state=DeliveryState.UNDELIVERED), concurrency=CONCURRENCY)
    )
    assert plan.to_send == events, plan.to_send
    job_id = service.create_job(plan)
    started = time.perf_counter()
    view = aio.run(service.start(job_id).run())
    elapsed = time.perf_counter() - started
    assert view.succeeded, view
    return events / elapsed


def _bare_rate(url: str, events: int) -> float:
    async def main() -> float:
        pool = ClientPool(CONCURRENCY)
        now = int(time.time())
        requests = []
        for i in range(events):
            body = f'{{"event":"reward.redeemed","event_id":"evt_{i:06d}"}}'.encode()
            headers = sign("standard", [SECRET], f"evt_{i:06d}", now, body)
            headers["content-type"] = "application/json"
            requests.append((body, headers))
        queue: asyncio.Queue[tuple[bytes, dict[str, str]]] = asyncio.Queue()
        for request in requests:
            queue.put_nowait(request)

        async def lane(n: int) -> None:
            client = pool.client(n)
            while not queue.empty():
                body, headers = queue.get_nowait()
                response = await client.post(url, content=body, headers=headers)
                assert response.status_code == 200

        started = time.perf_counter()
        await asyncio.gather(*(lane(n) for n in range(CONCURRENCY)))
        elapsed = time.perf_counter() - started
        await pool.aclose()
        return events / elapsed

    return aio.run(main())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=5000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "endpoints.toml").write_text(
            '[[endpoint]]\nid = "ep_bench"\nurl = "http://127.0.0.1:1/hooks/bench"\nscheme = "standard"\nsecret = "file:secret"\n'
        )
        (folder / "secret").write_text(SECRET)
        slow, slow_port = _receiver(folder, 50)
        fast, fast_port = _receiver(folder, 0)
        try:
            rate_50 = _replay_rate(_setup(folder, slow_port, args.events), args.events)
            bare_50 = _bare_rate(f"http://127.0.0.1:{slow_port}/hooks/bench", args.events)
            replay_0 = _replay_rate(_setup(folder, fast_port, args.events), args.events)
            bare_0 = _bare_rate(f"http://127.0.0.1:{fast_port}/hooks/bench", args.events)
        finally:
            for process in (slow, fast):
                process.terminate()
                process.wait(timeout=10)
    ideal = CONCURRENCY / 0.050
    report(
        "replay, 50 ms receiver",
        events=args.events,
        concurrency=CONCURRENCY,
        rate=f"{rate_50:,.0f}/s",
        share_of_ideal=f"{rate_50 / ideal:.2f} (ideal {ideal:,.0f}/s; target >= 0.85)",
        bare_httpx_same_receiver=f"{bare_50:,.0f}/s ({bare_50 / ideal:.2f} of ideal; replay/bare {rate_50 / bare_50:.2f})",
    )
    report(
        "replay vs bare httpx, 0 ms receiver",
        replay=f"{replay_0:,.0f}/s",
        bare_httpx=f"{bare_0:,.0f}/s",
        ratio=f"{replay_0 / bare_0:.2f} (target >= 0.8)",
    )


if __name__ == "__main__":
    main()
