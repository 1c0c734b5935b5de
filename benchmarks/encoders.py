"""Encoder throughput on the Food-Kitchen titles (36,298 items): cold and warm cache, peak memory.

Each backend runs in its own child process (so that peak memory and model loading are its own)
with an empty embedding cache: ``cold`` encodes every title, ``warm`` then encodes them again
with a fresh cache object and a fresh, unloaded encoder (as a new process would), so it
measures reading the cache from disk. The ONNX export is made once beforehand and timed apart.
Vectors of the ``onnx`` backends are compared with the ``sentence`` backend's on every title.

Targets on the 2-core machine: ``onnx`` >= 1.8x ``sentence`` items/s in the same run, and warm
>= 50x cold for every model backend.

Usage::

    .venv/bin/python benchmarks/encoders.py [--limit N] [--backends hashing,onnx,onnx-int8,sentence]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from _common import SHARED_DATA, write_json

DATA = SHARED_DATA / "amazon-food-kitchen-llmcdsr"
THREADS = 2


class _BuiltinsOnly(pickle.Unpickler):
    """Unpickler that refuses every global: plain dicts, lists, strings and numbers only, so
    loading runs no code (the pickles of this data set hold ``dict[str, str]``)."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")


def load_titles(limit: int | None = None) -> list[str]:
    """Item titles of domains A (Food) then B (Kitchen), in file order."""
    titles: list[str] = []
    for name in ("text_A.pkl", "text_B.pkl"):
        path = DATA / name
        if not path.is_file():
            sys.exit(f"missing {path}: the benchmark needs ../shared/data (see its SOURCE.md)")
        data = _BuiltinsOnly(io.BytesIO(path.read_bytes())).load()
        if not isinstance(data, dict):
            sys.exit(f"{path}: expected a dict of ASIN -> title, got {type(data).__name__}")
        titles.extend(str(v) for v in data.values())
    return titles[:limit] if limit else titles


def _config(backend: str) -> Any:
    from scenerec.text import EncoderConfig

    if backend == "onnx-int8":
        return EncoderConfig(backend="onnx", quantize=True, threads=THREADS)
    return EncoderConfig(backend=backend, threads=THREADS)


def child(backend: str, cache_dir: Path, limit: int | None, out: Path) -> dict[str, Any]:
    """One backend, in this (child) process."""
    from scenerec.config import Settings
    from scenerec.text import CachedEncoder, EmbeddingCache, make_encoder

    settings = Settings(cache_dir=cache_dir, threads=THREADS)
    titles = load_titles(limit)
    root = cache_dir / "embeddings" / backend  # each backend starts with an empty cache

    t0 = time.perf_counter()
    enc = make_encoder(_config(backend), settings=settings, cache=False)
    prepare = getattr(enc, "_prepare", None)
    if backend != "hashing" and prepare is not None:
        prepare()  # model load (and export) timed apart from encoding
    load_s = time.perf_counter() - t0

    t0, c0 = time.perf_counter(), time.process_time()
    cold = CachedEncoder(enc, EmbeddingCache(root)).encode(titles)
    cold_s, cold_cpu_s = time.perf_counter() - t0, time.process_time() - c0

    fresh = make_encoder(_config(backend), settings=settings, cache=False)
    t0 = time.perf_counter()
    warm_enc = CachedEncoder(fresh, EmbeddingCache(root))
    warm = warm_enc.encode(titles)
    warm_s = time.perf_counter() - t0
    if warm_enc.last_misses or not np.array_equal(cold, warm):
        raise SystemExit(f"{backend}: warm run missed {warm_enc.last_misses} texts")

    np.save(out, cold)
    return {
        "backend": backend,
        "items": len(titles),
        "load_s": load_s,
        "cold_s": cold_s,
        "warm_s": warm_s,
        "cold_cpu_s": cold_cpu_s,
        "cold_items_per_s": len(titles) / cold_s,
        "cold_items_per_cpu_s": len(titles) / cold_cpu_s,
        "warm_items_per_s": len(titles) / warm_s,
        "warm_over_cold": cold_s / warm_s,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _run_child(args: list[str]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def export_once(cache_dir: Path) -> dict[str, Any]:
    """Export the default model to ONNX (and int8) in this process; returns timings."""
    from scenerec.config import Settings
    from scenerec.text.backends.onnx import OnnxEncoder

    settings = Settings(cache_dir=cache_dir, threads=THREADS)
    t0 = time.perf_counter()
    OnnxEncoder(_config("onnx"), settings=settings)._prepare()
    export_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    q = OnnxEncoder(_config("onnx-int8"), settings=settings)
    q._prepare()
    return {
        "export_s": export_s,
        "quantize_s": time.perf_counter() - t0,
        "probe_report": q.quantization_report,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="first N titles only")
    parser.add_argument("--backends", default="hashing,onnx,onnx-int8,sentence")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--export", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--cache-dir", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.export:
        print(json.dumps(export_once(args.cache_dir)))
        return
    if args.child:
        print(json.dumps(child(args.child, args.cache_dir, args.limit, args.out)))
        return

    from rich.console import Console
    from rich.table import Table

    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    limit = ["--limit", str(args.limit)] if args.limit else []
    console = Console()
    # This machine is shared: the load average tells how far the figures are from idle.
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="scenerec-bench-") as tmp:
        cache = Path(tmp)
        export = None
        if any(b.startswith("onnx") for b in backends):
            export = _run_child(["--export", "--cache-dir", str(cache)])
        rows = []
        for b in backends:
            console.print(f"[dim]running {b}...[/]")
            rows.append(
                _run_child(
                    ["--child", b, "--cache-dir", str(cache), "--out", f"{tmp}/{b}.npy", *limit]
                )
            )
        vectors = {b: np.load(f"{tmp}/{b}.npy") for b in backends}

    by = {r["backend"]: r for r in rows}
    agreement = {}
    for a, b in (("sentence", "onnx"), ("onnx", "onnx-int8"), ("sentence", "onnx-int8")):
        if a in vectors and b in vectors:
            cos = (vectors[a] * vectors[b]).sum(axis=1)
            agreement[f"{b}_vs_{a}"] = {
                "min_cosine": float(cos.min()),
                "mean_cosine": float(cos.mean()),
            }

    table = Table(
        title=f"text encoders on Food-Kitchen titles ({rows[0]['items']:,} items, "
        f"{THREADS} threads; items per second)"
    )
    cols = ("backend", "load s", "cold /s", "cold /CPU-s", "warm /s", "warm/cold")
    for col in (*cols, "peak RSS MiB"):
        table.add_column(col, justify="left" if col == "backend" else "right")
    for r in rows:
        table.add_row(
            r["backend"],
            f"{r['load_s']:.1f}",
            f"{r['cold_items_per_s']:,.0f}",
            f"{r['cold_items_per_cpu_s']:,.0f}",
            f"{r['warm_items_per_s']:,.0f}",
            f"{r['warm_over_cold']:,.0f}x",
            f"{r['peak_rss_mib']:,.0f}",
        )
    console.print(table)
    load_after = os.getloadavg()
    summary: dict[str, Any] = {
        "rows": rows,
        "agreement": agreement,
        "export": export,
        "threads": THREADS,
        "cpus": os.cpu_count(),
        "loadavg_1m_before_after": [load_before[0], load_after[0]],
    }
    console.print(
        f"load average (1 min) before {load_before[0]:.1f}, after {load_after[0]:.1f} "
        f"on {os.cpu_count()} CPUs"
    )
    if "onnx" in by and "sentence" in by:
        ratio = by["onnx"]["cold_items_per_s"] / by["sentence"]["cold_items_per_s"]
        summary["onnx_over_sentence"] = ratio
        console.print(f"onnx / sentence throughput: {ratio:.2f}x (target >= 1.8x)")
    if "onnx-int8" in by and "sentence" in by:
        ratio = by["onnx-int8"]["cold_items_per_s"] / by["sentence"]["cold_items_per_s"]
        summary["onnx_int8_over_sentence"] = ratio
        console.print(f"onnx-int8 / sentence throughput: {ratio:.2f}x")
    for name, a in agreement.items():
        console.print(
            f"cosine {name.replace('_', ' ')}: "
            f"min {a['min_cosine']:.5f}, mean {a['mean_cosine']:.5f}"
        )
    if export:
        console.print(
            f"ONNX export {export['export_s']:.1f} s, "
            f"int8 quantisation {export['quantize_s']:.1f} s"
        )
    write_json("encoders", summary)


if __name__ == "__main__":
    main()
