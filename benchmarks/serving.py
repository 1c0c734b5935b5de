"""The HTTP service under load (issue 14): recommendation latency at a fixed request rate with
mixed reads and writes, and durable ingestion throughput, against a 100k-item catalog.

    nice -n 10 .venv/bin/python benchmarks/serving.py [--model als] [--items 100000]
        [--rates 100,200,400] [--seconds 30] [--ingest-seconds 15] [--store sqlite|postgresql]

Data: the synthetic sample platform grown to ``--items`` items (text-only catalog items: about
half have no events), 20,000 users and 300,000 events in three scenarios; the model is fitted
on all of it and saved as a run with its catalog (cached in ``--work``). The service is the real
``scenerec serve`` in its own process on 127.0.0.1 (uvicorn, one worker), with a fresh event
store per run (SQLite WAL with synchronous=FULL by default: every acknowledged write is on disk)
and an HNSW index over the catalog's text vectors (recall@10 against exact search measured at
start and reported).

Load, from an asyncio client in this process over keep-alive HTTP/1.1 connections:

- mixed: an open-loop schedule of ``rate`` requests per second for ``--seconds`` seconds: 70%
  ``GET /v1/users/{id}/recommendations`` (known users, a random scenario, k=10, with per-item
  explanations), 10% ``POST /v1/events`` (5 events), 10% ``POST /v1/recommendations`` (an
  anonymous session of 5 events), 5% ``GET /v1/search``, 5% ``GET /v1/items/{id}/similar``.
  Latency is measured from each request's scheduled time (a late client counts against the
  server: no coordinated omission); a request that fails, times out (2 s) or exceeds 64 in
  flight is an error.
- ingestion: 4 connections posting batches of 100 new events as fast as acknowledged for
  ``--ingest-seconds``; events/s counts events acknowledged with 200 (durably stored).

Targets on the 2-core machine: p99 recommendation latency < 20 ms at 200 requests/s with zero
errors; durable ingestion >= 2,000 events/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from _common import markdown_table, print_table, write_json

API_KEY = "bench-key-0123456789abcdef"
MIX = (
    ("recommend", 0.70),
    ("events", 0.10),
    ("session", 0.10),
    ("search", 0.05),
    ("similar", 0.05),
)
PARAMS = {"als": {"factors": 64, "iterations": 10}, "itemknn": {"k": 100}, "popularity": {}}
SERVING_YAML = """\
encoder: {backend: hashing, hashing: {dim: 256}}
retrieval: {exact_below: 20000, kind: hnsw}
"""


# ------------------------------------------------------------------------------ the run
def prepare(work: Path, model: str, n_items: int) -> Path:
    """Generate the platform, fit ``model`` on it and save the run (reused when present)."""
    import polars as pl

    from scenerec.data.dataset import Dataset
    from scenerec.data.synthetic import SyntheticConfig, generate
    from scenerec.models.registry import ModelSpec, build_model
    from scenerec.models.runs import MANIFEST, save_catalog
    from scenerec.schema import C

    run = work / f"{model}-{n_items}"
    if (run / MANIFEST).exists():
        return run
    t0 = time.perf_counter()
    cfg = SyntheticConfig(
        seed=1,
        n_users=20_000,
        n_items=n_items,
        n_events=300_000,
        bot_fraction=0.0,
        malformed_fraction=0.0,
        duplicate_fraction=0.0,
        iso_timestamp_fraction=0.0,
        late_fraction=0.0,
    )
    data = generate(cfg)
    events = data.events.with_columns(
        pl.col(C.TIMESTAMP).cast(pl.Int64), pl.col(C.VALUE).cast(pl.Float64)
    )
    fitted = build_model(ModelSpec(name=model, params=PARAMS.get(model, {})))
    fitted.fit(Dataset(events, data.catalog))
    save_catalog(fitted.save(run), data.catalog)
    print(f"run {run.name}: fitted and saved in {time.perf_counter() - t0:.0f} s")
    return run


# ------------------------------------------------------------------------------ the client
class Conn:
    """One keep-alive HTTP/1.1 connection (a minimal client: the load generator must cost the
    shared cores far less than the server it measures)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        data = b"" if body is None else json.dumps(body).encode()
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {API_KEY}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
        )
        self.writer.write(head.encode() + data)
        status = int((await self.reader.readline()).split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


@dataclass
class Workload:
    """Request bodies drawn from the run's users, items, scenarios and titles."""

    users: list[str]
    items: list[str]
    words: list[str]
    scenarios: list[str]
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    n: int = 0

    def events(self, size: int, user: str | None = None) -> list[dict[str, Any]]:
        self.n += 1
        r = self.rng
        return [
            {
                "event_id": f"b{self.n}-{j}",
                "user_id": user or r.choice(self.users),
                "item_id": r.choice(self.items),
                "scenario": r.choice(self.scenarios),
                "behavior": r.choice(["view", "click", "purchase"]),
                "timestamp": 1_720_000_000,
            }
            for j in range(size)
        ]

    def request(self, kind: str) -> tuple[str, str, Any]:
        r = self.rng
        if kind == "recommend":
            scen = r.choice(self.scenarios)
            return "GET", f"/v1/users/{r.choice(self.users)}/recommendations?scenario={scen}", None
        if kind == "events":
            return "POST", "/v1/events", {"events": self.events(5)}
        if kind == "session":
            hist = [
                {"item_id": r.choice(self.items), "scenario": r.choice(self.scenarios)}
                for _ in range(5)
            ]
            return "POST", "/v1/recommendations", {"history": hist, "scenario": "web"}
        if kind == "search":
            return "GET", f"/v1/search?q={'+'.join(r.sample(self.words, 2))}", None
        return "GET", f"/v1/items/{r.choice(self.items)}/similar?k=10", None


def _pct(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50_ms": float("nan"), "p99_ms": float("nan")}
    a = np.array(values) * 1000
    return {
        "p50_ms": round(float(np.percentile(a, 50)), 2),
        "p99_ms": round(float(np.percentile(a, 99)), 2),
    }


def server_cpu(pid: int) -> float:
    """CPU seconds the server process has used so far (user + system)."""
    import psutil

    t = psutil.Process(pid).cpu_times()
    return float(t.user + t.system)


async def mixed(port: int, load: Workload, rate: int, seconds: float) -> dict[str, Any]:
    """The open-loop mixed schedule (see the module docstring)."""
    pool: asyncio.Queue[Conn] = asyncio.Queue()
    for _ in range(64):
        pool.put_nowait(Conn(port))
    kinds = [k for k, _ in MIX]
    weights = [w for _, w in MIX]
    lat: dict[str, list[float]] = {k: [] for k in kinds}
    errors: dict[str, int] = {k: 0 for k in kinds}
    t0 = time.perf_counter() + 0.1
    n = int(rate * seconds)

    async def one(i: int, kind: str) -> None:
        due = t0 + i / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        if pool.empty():
            errors[kind] += 1  # over 64 in flight: the server is not keeping up
            return
        conn = pool.get_nowait()
        method, path, body = load.request(kind)
        try:
            status, _ = await asyncio.wait_for(conn.request(method, path, body), 2.0)
            if status == 200:
                lat[kind].append(time.perf_counter() - due)
            else:
                errors[kind] += 1
        except (TimeoutError, OSError, ValueError, IndexError, asyncio.IncompleteReadError):
            errors[kind] += 1
            conn.close()
        pool.put_nowait(conn)

    draws = load.rng.choices(kinds, weights, k=n)
    await asyncio.gather(*(one(i, k) for i, k in enumerate(draws)))
    elapsed = time.perf_counter() - t0
    while not pool.empty():
        pool.get_nowait().close()
    rows = {
        k: {"requests": len(lat[k]) + errors[k], "errors": errors[k], **_pct(lat[k])} for k in kinds
    }
    every = [x for k in kinds for x in lat[k]]
    return {
        "rate": rate,
        "seconds": round(elapsed, 1),
        "achieved_rps": round(n / elapsed, 1),
        "all": {"requests": n, "errors": sum(errors.values()), **_pct(every)},
        "by_kind": rows,
    }


async def ingest(port: int, load: Workload, seconds: float, batch: int = 100) -> dict[str, Any]:
    """Closed-loop ingestion from 4 connections (see the module docstring)."""
    accepted = 0
    errors = 0
    lat: list[float] = []
    stop = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal accepted, errors
        conn = Conn(port)
        while time.perf_counter() < stop:
            t = time.perf_counter()
            status, body = await conn.request("POST", "/v1/events", {"events": load.events(batch)})
            if status == 200:
                accepted += json.loads(body)["accepted"]
                lat.append(time.perf_counter() - t)
            else:
                errors += 1
        conn.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(4)))
    elapsed = time.perf_counter() - t0
    return {
        "batch": batch,
        "events_per_s": round(accepted / elapsed),
        "accepted": accepted,
        "errors": errors,
        **{f"batch_{k}": v for k, v in _pct(lat).items()},
    }


# ------------------------------------------------------------------------------ main
def _drop(store: str) -> None:
    """Remove the benchmark's store (its tables in the shared PostgreSQL database)."""
    if not store.startswith("postgresql://"):
        return
    import psycopg

    url, _, query = store.partition("?table=")
    with psycopg.connect(url) as conn:
        for table in ("events", "items", "forgotten", "meta"):
            conn.execute(f"DROP TABLE IF EXISTS {query}_{table}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="als", choices=sorted(PARAMS))
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--rates", default="100,200,400")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--ingest-seconds", type=float, default=15.0)
    ap.add_argument("--store", default="sqlite", choices=["sqlite", "postgresql"])
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "scenerec-bench")
    args = ap.parse_args()

    import httpx
    import polars as pl

    from scenerec.serving.process import ServiceProcess

    args.work.mkdir(parents=True, exist_ok=True)
    run = prepare(args.work, args.model, args.items)
    (args.work / "serving.yaml").write_text(SERVING_YAML, encoding="utf-8")
    tag = f"b{int(time.time())}"
    store = (
        f"sqlite://{args.work / f'{tag}.db'}"
        if args.store == "sqlite"
        else f"postgresql://127.0.0.1:5432/test?table={tag}"
    )
    t0 = time.perf_counter()
    server = ServiceProcess(
        run,
        API_KEY,
        store=store,
        log=args.work / "server.log",
        extra=["--config", str(args.work / "serving.yaml")],
    )
    try:
        ready_s = server.wait_ready(timeout=900)
        ready = httpx.get(f"{server.url}/readyz").json()
        print(f"ready in {ready_s:.1f} s: {ready['index']}")
        vocab = json.loads((run / "vocabularies.json").read_text(encoding="utf-8"))
        titles = pl.read_parquet(run / "catalog.parquet")["title"].drop_nulls().to_list()
        words = sorted({w.lower() for t in titles[:5000] for w in t.split() if w.isalpha()})
        load = Workload(vocab["users"], vocab["items"], words, vocab["scenarios"])
        asyncio.run(mixed(server.port, load, 50, 10))  # warm-up (not reported)
        results = []
        for rate in [int(r) for r in args.rates.split(",")]:
            cpu0 = server_cpu(server.proc.pid)
            res = asyncio.run(mixed(server.port, load, rate, args.seconds))
            res["server_cpu_ms_per_request"] = round(
                (server_cpu(server.proc.pid) - cpu0) * 1000 / res["all"]["requests"], 2
            )
            res["load_average_1m"] = round(os.getloadavg()[0], 1)
            rec = res["by_kind"]["recommend"]
            print(
                f"{rate} req/s: recommendations p50 {rec['p50_ms']} ms, p99 {rec['p99_ms']} ms,"
                f" errors {res['all']['errors']}"
            )
            results.append(res)
        cpu0 = server_cpu(server.proc.pid)
        ingestion = asyncio.run(ingest(server.port, load, args.ingest_seconds))
        ingestion["server_cpu_ms_per_event"] = round(
            (server_cpu(server.proc.pid) - cpu0) * 1000 / max(ingestion["accepted"], 1), 3
        )
        ingestion["load_average_1m"] = round(os.getloadavg()[0], 1)
        print(f"ingestion: {ingestion['events_per_s']:,} events/s")
        metrics = httpx.get(f"{server.url}/metrics").text
    finally:
        server.stop()
        _drop(store)
    if ingestion["accepted"] == 0 or not all(
        r["by_kind"]["recommend"]["requests"] for r in results
    ):
        raise SystemExit("degenerate run: nothing was served or ingested; see the server log")
    rows = []
    for r in results:
        for kind, v in r["by_kind"].items():
            rows.append({"rate": r["rate"], "request": kind, **v})
    print_table(f"serving {args.model}, {args.items:,} items ({args.store})", rows)
    summary = [
        {
            "rate": r["rate"],
            "achieved req/s": r["achieved_rps"],
            "rec p50 ms": r["by_kind"]["recommend"]["p50_ms"],
            "rec p99 ms": r["by_kind"]["recommend"]["p99_ms"],
            "all p99 ms": r["all"]["p99_ms"],
            "errors": r["all"]["errors"],
            "server CPU ms/req": r["server_cpu_ms_per_request"],
            "load avg": r["load_average_1m"],
        }
        for r in results
    ]
    print(markdown_table(summary))
    write_json(
        f"serving_{args.store}" if args.store != "sqlite" else "serving",
        {
            "model": args.model,
            "items": args.items,
            "store": args.store,
            "index": ready["index"],
            "startup_s": round(ready_s, 1),
            "setup_s": round(time.perf_counter() - t0, 1),
            "mixed": results,
            "ingestion": ingestion,
            "summary": summary,
            "events_stored_metric": [
                ln for ln in metrics.splitlines() if ln.startswith("scenerec_events_stored_total")
            ],
        },
    )


if __name__ == "__main__":
    main()
