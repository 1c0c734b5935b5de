"""Online learning: events/s applied and event-to-updated-recommendation latency (issue 13).

    nice -n 10 .venv/bin/python benchmarks/online.py [--models fusion,als,ease,itemknn,popularity]
        [--encoder sentence|hashing] [--latency-events 2000] [--grow 1000000]

Data: the built-in sample platform (5,000 users, 3,000 items, ~190,000 cleaned events, three
scenarios, search queries). Each model is fitted on the oldest 80% of the events; the newest 20%
are the stream, applied through ``AdaptiveRecommender.apply`` (validation, the training state's
append, the model's own update: ScenarioFusion's O(dim) state update, ALS's fold-in, EASE /
ItemKNN / Popularity reading the new history). Measured per model, one model at a time:

- throughput: the stream applied in batches of 1, 100 and 1,000 events (events/s);
- latency: one event applied, then the top-10 for that user in that scenario: p50 / p99 over
  ``--latency-events`` events (event-to-updated-recommendation), and the apply alone; events
  with a search query are also reported apart (ScenarioFusion encodes a query it has not seen
  with the language model; a fresh embedding cache is used unless ``--warm-cache``);
- growth: ``--grow`` more events applied and merged into the stored events, then the same
  latency again (the cost of one update must not grow with the events stored).

Targets: ScenarioFusion >= 10,000 events/s, p99 event-to-recommendation < 20 ms. The
CrossScenarioTransformer (``--models cross_scenario_transformer``) keeps its weights and
re-reads the user's newest window at each recommendation. The neural models train 2 epochs
only: this measures update speed, not accuracy.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from _common import RESULTS, markdown_table, peak_rss_mb, print_table, write_json

MODELS = {
    "fusion": {"train": {"epochs": 2, "max_minutes": 5}},
    "als": {"factors": 64, "regularization": 30.0},
    "ease": {"reg": 500.0},
    "itemknn": {"k": 100},
    "popularity": {},
    "cross_scenario_transformer": {"train": {"epochs": 2, "max_minutes": 5}},
}
LABELS = {"fusion": "ScenarioFusion", "als": "ALS", "ease": "EASE", "itemknn": "ItemKNN",
          "popularity": "Popularity",
          "cross_scenario_transformer": "CrossScenarioTransformer"}  # fmt: skip


def _data() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    from scenerec.data.clean import CleaningConfig
    from scenerec.experiment import DataSpec, load_data
    from scenerec.schema import C

    ds, _, _ = load_data(DataSpec(source="synthetic"), CleaningConfig())
    ev = ds.raw_events().sort(C.TIMESTAMP, maintain_order=True)
    cut = ev.height * 4 // 5
    return ev.head(cut), ev.tail(ev.height - cut), ds.catalog.drop(C.ITEM_IDX)


def _fresh(run: Path) -> Any:
    from scenerec.online import AdaptiveRecommender, OnlineConfig

    cfg = OnlineConfig.from_dict({"fine_tune": {"enabled": False}, "drift": {"enabled": False}})
    return AdaptiveRecommender.from_run(run, cfg)


def _throughput(run: Path, stream: pl.DataFrame, batch: int, limit: int) -> float:
    ar = _fresh(run)
    part = stream.head(limit)
    chunks = [part.slice(i, batch) for i in range(0, part.height, batch)]
    t0 = time.perf_counter()
    for c in chunks:
        ar.apply(c)
    return part.height / (time.perf_counter() - t0)


def _latency(ar: Any, stream: pl.DataFrame, n: int) -> dict[str, float]:
    """Apply events one at a time, each followed by the top-10 for its user and scenario.
    Events with a search query (whose text the model encodes when new) are reported apart."""
    from scenerec.models import RecQuery
    from scenerec.schema import C

    rows = stream.head(n)
    has_query = np.zeros(rows.height, bool)
    if C.QUERY in rows.columns:
        has_query = (rows[C.QUERY].fill_null("").str.strip_chars() != "").to_numpy()
    apply_ms, total_ms = [], []
    for i in range(rows.height):
        one = rows.slice(i, 1)
        t0 = time.perf_counter()
        ar.apply(one)
        t1 = time.perf_counter()
        ar.recommend(RecQuery(user_id=one[C.USER_ID][0], scenario=one[C.SCENARIO][0]), k=10)
        t2 = time.perf_counter()
        apply_ms.append(1e3 * (t1 - t0))
        total_ms.append(1e3 * (t2 - t0))
    total, plain = np.array(total_ms), ~has_query
    out = {
        "apply p50 ms": float(np.percentile(apply_ms, 50)),
        "apply p99 ms": float(np.percentile(apply_ms, 99)),
        "event->rec p50 ms": float(np.percentile(total, 50)),
        "event->rec p99 ms": float(np.percentile(total, 99)),
        "no query: event->rec p99 ms": float(np.percentile(total[plain], 99)),
    }
    if has_query.any():
        out["with query: event->rec p50 ms"] = float(np.percentile(total[has_query], 50))
        out["with query: event->rec p99 ms"] = float(np.percentile(total[has_query], 99))
    return out


def _shifted(stream: pl.DataFrame, n: int, after: int, seed: int) -> pl.DataFrame:
    """``n`` events resampled from the stream, in time order after ``after``."""
    from scenerec.schema import C

    rng = np.random.default_rng(seed)
    take = stream[rng.integers(0, stream.height, n)]
    return take.with_columns(pl.Series(C.TIMESTAMP, after + 1 + np.arange(n), dtype=pl.Int64))


def bench(
    name: str, args: argparse.Namespace, data: tuple[pl.DataFrame, ...]
) -> list[dict[str, Any]]:
    """Fit one model, then measure it on the stream (ScenarioFusion also on the stream without
    its search-query text, which isolates its O(dim) update from the language model)."""
    from scenerec.data.dataset import Dataset
    from scenerec.models.registry import ModelSpec, build_model
    from scenerec.schema import C
    from scenerec.text.encoder import EncoderConfig

    train, stream, catalog = data
    encoder = EncoderConfig(backend=args.encoder)
    t0 = time.perf_counter()
    model = build_model(ModelSpec(name=name, params=MODELS[name]), encoder=encoder)
    model.fit(Dataset(train, catalog))
    fit_s = time.perf_counter() - t0
    streams = {LABELS[name]: stream}
    if name == "fusion":
        streams[f"{LABELS[name]}, events without query text"] = stream.drop(C.QUERY)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        run = model.save(Path(tmp) / "run")
        catalog.write_parquet(run / "catalog.parquet")
        for label, events in streams.items():
            row: dict[str, Any] = {"model": label, "fit s": round(fit_s, 1)}
            row.update(_measure(run, events, args, label))
            row["peak RSS MiB"] = round(peak_rss_mb())
            rows.append(row)
    return rows


def _measure(
    run: Path, stream: pl.DataFrame, args: argparse.Namespace, label: str
) -> dict[str, Any]:
    from scenerec.schema import C

    row: dict[str, Any] = {}
    for batch, limit in ((1, args.single_events), (100, stream.height), (1000, stream.height)):
        row[f"events/s (batch {batch})"] = rate = round(_throughput(run, stream, batch, limit))
        print(f"[{label}] batch {batch}: {rate:,} events/s", flush=True)
    ar = _fresh(run)
    ar.apply(stream.head(stream.height - args.latency_events))
    lat = _latency(ar, stream.tail(args.latency_events), args.latency_events)
    row["stored events"] = ar.model.train_state.histories.n_events
    row.update({k: round(v, 3) for k, v in lat.items()})
    if args.grow:
        last = int(stream[C.TIMESTAMP].max() or 0)
        bulk = _shifted(stream, args.grow, last, 1)
        for i in range(0, bulk.height, 50_000):
            ar.apply(bulk.slice(i, 50_000))
        row["grown: stored events"] = ar.model.train_state.histories.n_events  # merged
        again = _shifted(stream, args.latency_events, last + args.grow + 10, 2)
        grown = _latency(ar, again, args.latency_events)
        for key in ("apply p50 ms", "event->rec p50 ms", "event->rec p99 ms"):
            row[f"grown: {key}"] = round(grown[key], 3)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="fusion,als,ease,itemknn,popularity")
    ap.add_argument("--encoder", default="sentence", choices=["sentence", "hashing"])
    ap.add_argument("--single-events", type=int, default=3_000)
    ap.add_argument("--latency-events", type=int, default=2_000)
    ap.add_argument("--grow", type=int, default=1_000_000)
    ap.add_argument(
        "--warm-cache",
        action="store_true",
        help="use the embedding cache in SCENEREC_CACHE_DIR (default: a fresh one, so every "
        "item and query text is encoded in this run)",
    )
    ap.add_argument("--name", default="online", help="results file: benchmarks/results/NAME.json")
    args = ap.parse_args()
    t0 = time.perf_counter()
    if not args.warm_cache:
        os.environ["SCENEREC_CACHE_DIR"] = tempfile.mkdtemp(prefix="scenerec-online-bench-")
    data = _data()
    print(f"train {data[0].height:,} events, stream {data[1].height:,} events", flush=True)
    rows = [row for name in args.models.split(",") for row in bench(name, args, data)]
    print_table("Online learning on the sample platform (one process, models one at a time)", rows)
    target = next((r for r in rows if r["model"] == "ScenarioFusion"), None)
    checks = {}
    if target is not None:
        checks = {
            ">= 10,000 events/s (batch 1000)": target["events/s (batch 1000)"] >= 10_000,
            "p99 event->rec < 20 ms": target["event->rec p99 ms"] < 20.0,
        }
    write_json(
        args.name,
        {
            "args": vars(args),
            "train_events": data[0].height,
            "stream_events": data[1].height,
            "rows": rows,
            "targets_met": checks,
            "load_avg_1_5_15": list(os.getloadavg()),
            "wall_s": round(time.perf_counter() - t0, 1),
        },
    )
    (RESULTS / f"{args.name}_table.md").write_text(markdown_table(rows) + "\n", encoding="utf-8")
    print(checks)


if __name__ == "__main__":
    main()
