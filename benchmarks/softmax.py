"""The sequence models' full-softmax loss: keep the softmax for the backward, or recompute it.

``models/nn/sequence.py:_FullSoftmax`` computes the summed cross-entropy of N targets against
M items a block of rows at a time. Its backward needs each block's softmax: kept from the
forward (an (N, M) float32 buffer written once and read once) or recomputed (one more
cache-sized matrix product per block). Which is faster depends on whether the buffer stays in
cache; ``_STORE_ENTRIES`` is the crossover, set from this benchmark. ``cross_entropy`` over
the full logits (what torch does without the custom function) runs beside them.

Each case times forward + backward of random 64-dimensional vectors (median of ``--reps``,
after one warm-up), all in this process, side by side, so the ratios hold on a noisy machine.

    .venv/bin/python benchmarks/softmax.py [--items 3416] [--reps 8]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from functools import partial

import torch

from _common import print_table, write_json

NAME = "softmax"
TARGETS = (640, 1_280, 2_560, 6_400, 12_800, 25_600)


def _median_ms(step: Callable[[], None], reps: int) -> float:
    step()  # warm-up
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return 1000.0 * statistics.median(times)


def _custom(user: torch.Tensor, table: torch.Tensor, labels: torch.Tensor, keep: bool) -> None:
    from scenerec.models.nn import sequence

    sequence._STORE_ENTRIES = 2**40 if keep else 0
    sequence._FullSoftmax.apply(user, table, labels).backward()  # type: ignore[no-untyped-call]


def _plain(user: torch.Tensor, table: torch.Tensor, labels: torch.Tensor) -> None:
    torch.nn.functional.cross_entropy(user @ table.T, labels, reduction="sum").backward()


def main() -> None:
    from scenerec.models.nn import sequence

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=3_416, help="catalogue size M (ML-1M: 3,416)")
    ap.add_argument("--reps", type=int, default=8)
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(2)
    table = torch.randn(args.items, 64, requires_grad=True)
    default = sequence._STORE_ENTRIES
    rows = []
    for n in TARGETS:
        user = torch.randn(n, 64, requires_grad=True)
        labels = torch.randint(0, args.items, (n,))

        kept = _median_ms(partial(_custom, user, table, labels, True), args.reps)
        again = _median_ms(partial(_custom, user, table, labels, False), args.reps)
        full = _median_ms(partial(_plain, user, table, labels), args.reps)
        rows.append(
            {
                "targets": n,
                "softmax MiB": round(n * args.items * 4 / 2**20, 1),
                "kept ms": round(kept, 1),
                "recomputed ms": round(again, 1),
                "cross_entropy ms": round(full, 1),
                "recomputed / kept": round(again / kept, 2),
                "default keeps": n * args.items <= default,
            }
        )
    sequence._STORE_ENTRIES = default
    print_table(f"full softmax, forward + backward, {args.items:,} items, 64 dims", rows)
    write_json(NAME, {"items": args.items, "reps": args.reps, "rows": rows})


if __name__ == "__main__":
    main()
