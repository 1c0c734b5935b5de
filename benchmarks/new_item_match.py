"""How should a user's history be matched to new items? Chosen on the validation split.

New items (no event in the target scenario, known by their text only) reach the flagship's
candidates through its ``text[new]`` generator, 20 per user. This script measures, for each way
of matching, how often a validation user's answer is among those 20 (recall@20) and at what
rank, among all of the target's items without an event:

* ``interest``: cosine of the item's text with the user's interest vector (the recency-weighted
  centre of their history, ``ItemText.scores``);
* ``nearest``: the item's best cosine with any one item of the user's history
  (``ItemText.nearest``).

The protocol is the validation copy of the benchmark's ``new_items`` protocol
(``cross_scenario_data.protocol_fits`` run on the validation targets): every training event of
a random 10% of the target's validation items is removed; the rows scored are the validation
users whose answer then has no event in the target (those items plus the catalogue's own items
without one). No test row is read.

    .venv/bin/python benchmarks/new_item_match.py [--releases food-kitchen,art-office]
        [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

import numpy as np
import polars as pl

from _common import print_table, write_json
from cross_scenario_data import load_source, protocol_fits

CUT = 20  # the text[new] generator's candidates per user
MATCHES = ("interest", "nearest")


def ranks(src: Any, seed: int) -> dict[str, dict[str, Any]]:
    """Per validation target: how many items without an event, and each match's rank of every
    scored row's answer among them (0 = first)."""
    from scenerec.data.dataset import Dataset
    from scenerec.models.batch import UserBatch
    from scenerec.models.flagship.text import ItemText
    from scenerec.models.state import TrainState
    from scenerec.text.encoder import EncoderConfig
    from scenerec.text.templates import ItemTextTemplate

    if src.valid is None or src.valid.height == 0:
        raise SystemExit(f"{src.name}: no validation split; this script reads no test row")
    valid_src = dataclasses.replace(src, test=src.valid)
    full = Dataset(src.events, src.catalog, name=src.name)
    out: dict[str, dict[str, Any]] = {}
    for (t,), events, _new in protocol_fits(valid_src, "new_items", "all", seed):
        state = TrainState.from_dataset(full.subset(events, name=f"{src.name}:valid-new"))
        text = ItemText.encode(state, EncoderConfig(), ItemTextTemplate(), cache=True, recency=0.9)
        ti = state.scenario_index(t)
        items = state.items_of_scenario(ti)
        new = items[state.popularity_of(ti)[items] == 0]
        users = state.vocabularies["users"]
        item_ids = state.vocabularies["items"]
        rows = src.valid.filter(pl.col("scenario") == t)
        u = np.array([users.get(x) for x in rows["user_id"].to_list()], dtype=object)
        i = np.array([item_ids.get(x) for x in rows["item_id"].to_list()], dtype=object)
        ok = np.array([a is not None and b is not None for a, b in zip(u, i, strict=True)])
        u, i = u[ok].astype(np.int64), i[ok].astype(np.int64)
        pos = np.full(state.n_items, -1, np.int64)
        pos[new] = np.arange(len(new))
        scored = pos[i] >= 0
        u, col = u[scored], pos[i[scored]]
        batch = UserBatch(u, ti, state)
        by = {
            "interest": text.scores(batch, ti, new),
            "nearest": text.nearest(batch, new)[0],
        }
        res: dict[str, Any] = {"no_event_items": len(new), "rows": len(u)}
        for name, s in by.items():
            s = np.where(np.isfinite(s), s, -np.inf)
            mine = s[np.arange(len(u)), col][:, None]
            # ties count half, as in the benchmark's ranking
            res[name] = ((s > mine).sum(1) + 0.5 * ((s == mine).sum(1) - 1)).tolist()
        out[t] = res
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--releases", default="food-kitchen,art-office")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = ap.parse_args()
    table: list[dict[str, Any]] = []
    for release in [r for r in args.releases.split(",") if r]:
        src = load_source({"kind": "release", "name": release})
        per_seed = [ranks(src, s) for s in args.seeds]
        for t in per_seed[0]:
            row: dict[str, Any] = {
                "release": release,
                "target": t,
                "no_event_items": int(np.mean([p[t]["no_event_items"] for p in per_seed])),
                "rows": sum(p[t]["rows"] for p in per_seed),
            }
            for m in MATCHES:
                r = np.concatenate([np.asarray(p[t][m]) for p in per_seed])
                row[f"{m} recall@{CUT}"] = float(np.mean(r < CUT))
                row[f"{m} median rank"] = float(np.median(r))
            table.append(row)
    title = f"Validation users answering a new item: recall@{CUT} among items without an event"
    print_table(title, table)
    write_json("new_item_match", {"seeds": args.seeds, "cut": CUT, "rows": table})


if __name__ == "__main__":
    main()
