"""Load + clean + build the Dataset for MovieLens-1M (1,000,209 ratings).

Target (issue 2): under 5 s and under 1 GiB peak memory on the 2-core development machine.
Each repetition runs in a fresh process so that peak memory is that of one pipeline run.

    .venv/bin/python benchmarks/data_pipeline.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from _common import peak_rss_mb, print_table, write_json


def one_run() -> dict[str, float]:
    """The pipeline, timed stage by stage (runs in the child process)."""
    import polars as pl

    base = peak_rss_mb()
    from scenerec.data.clean import CleaningConfig, clean_events
    from scenerec.data.dataset import Dataset
    from scenerec.data.public import fetch, load

    path = fetch("ml-1m", progress=False)
    t_import = time.perf_counter()
    loaded = load("ml-1m", path)
    t_load = time.perf_counter()
    # Ratings are text-typed again so the cleaner parses every field, as for a user's CSV.
    raw = loaded.events.with_columns(pl.all().cast(pl.String))
    result = clean_events(raw, config=CleaningConfig(bot_detection=True), catalog=loaded.catalog)
    t_clean = time.perf_counter()
    ds = Dataset(result.events, loaded.catalog, name="ml-1m")
    _ = ds.histories
    _ = ds.matrix()
    t_ds = time.perf_counter()
    return {
        "events_in": float(raw.height),
        "events_kept": float(ds.n_events),
        "load_s": t_load - t_import,
        "clean_s": t_clean - t_load,
        "dataset_s": t_ds - t_clean,
        "total_s": t_ds - t_import,
        "peak_rss_mb": peak_rss_mb(),
        "baseline_rss_mb": base,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        sys.stdout.write(json.dumps(one_run()) + "\n")
        return
    runs = []
    for _ in range(args.repeat):
        out = subprocess.run(
            [sys.executable, __file__, "--child"], capture_output=True, text=True, check=True
        )
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    rows = [
        {
            "run": str(i + 1),
            "events in": int(r["events_in"]),
            "kept": int(r["events_kept"]),
            "load s": r["load_s"],
            "clean s": r["clean_s"],
            "dataset s": r["dataset_s"],
            "total s": r["total_s"],
            "peak RSS MiB": r["peak_rss_mb"],
        }
        for i, r in enumerate(runs)
    ]
    print_table("MovieLens-1M: load + clean + Dataset (fresh process per run)", rows)
    best = min(runs, key=lambda r: r["total_s"])
    verdict = {
        "median_total_s": sorted(r["total_s"] for r in runs)[len(runs) // 2],
        "max_peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "target_total_s": 5.0,
        "target_peak_rss_mb": 1024.0,
    }
    print_table("against the targets", [{k: float(v) for k, v in verdict.items()}])
    write_json("data_pipeline", {"runs": runs, "best": best, "summary": verdict})


if __name__ == "__main__":
    main()
