"""Cross-scenario gains on the two cross-domain releases in ``../shared/data``.

Data and split: Amazon Food-Kitchen (LLMCDSR release; scenarios ``food``, ``kitchen``) and Amazon
Art-Office (URLLM release; ``art``, ``office``), each with its predefined split: ``train`` holds
every training user's events plus the history of each valid/test user; ``test`` holds one target
event per test line, whose scenario is the target scenario of that instance. The valid targets
are not used (nothing is tuned here; the parameters in ``benchmarks/configs/cross_scenario.yaml``
are fixed).

For each target scenario ``t``:

* single-scenario models (scope ``target``) fit on the training events of ``t`` only, so a test
  user with no history in ``t`` gets ``t``'s popularity;
* cross-scenario models (scope ``all``) fit once on every scenario's training events;
* the flagship CrossScenarioTransformer also runs without text (ids only), giving the ablation
  grid text x other scenarios.

Neither release has test users who are cold in their target scenario as shipped (every test
user has history in both scenarios), so a second, "cold" protocol removes the test users' own
training events in the target scenario before fitting (one fit per target, or one fit in all
when each test user has targets in one scenario only) and ranks the same test targets: a
single-scenario model then returns the target's popularity for them (the Popularity row), and a
cross-scenario model has only the user's other scenarios to go on. It runs for the specs marked
``cold`` in the YAML, not for their no-text ablation.

Ranking: full ranking over ``t``'s items (the user's training items excluded) and the papers'
sampled ranking (each target against 999 random items of ``t``), both at cut-off 10. Results
are given over all test users of ``t`` and for two groups defined from the training data the
model saw: ``overlap`` (history in ``t`` and in another scenario) and ``cold`` (history only in
other scenarios). Every (model, scope, text, protocol) run is its own process, so its runtime
and peak memory are its own. The gains table compares the flagship (all scenarios, text) with
the best single-scenario baseline (the flagship's own target-only runs are its ablation rows).

    .venv/bin/python benchmarks/cross_scenario.py [--releases food-kitchen,art-office]
        [--models cross_scenario_transformer,itemknn] [--seeds 0] [--quick] [--no-cold]
        [--update] [--render]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import numpy as np

from _common import (
    RESULTS,
    SHARED_DATA,
    BenchModel,
    align_rows,
    child_entry,
    deep_merge,
    fit_options,
    make_model,
    markdown_table,
    mean_std,
    merge_previous,
    pm,
    print_table,
    run_child,
    select_specs,
    write_json,
)
from _common import load_model_specs as _load_specs

NAME = "cross_scenario"
KS = (10,)
N_NEGATIVES = 999
RELEASES = {
    "food-kitchen": "amazon-food-kitchen-llmcdsr",
    "art-office": "amazon-art-office-urllm",
}
GROUPS = ("all", "overlap", "cold")
FLAGSHIP = "cross_scenario_transformer"
# Issue goals: flagship vs best single-scenario model, NDCG@10 full ranking.
TARGET_GAIN_ALL = 0.10


# ------------------------------------------------------------------------------- data
def load_release(name: str) -> Any:
    """The release's LoadedData (events, catalog, predefined split)."""
    from scenerec.data.public import load_art_office, load_food_kitchen

    path = SHARED_DATA / RELEASES[name]
    if not path.is_dir():
        raise SystemExit(f"{path}: release folder not found; see DESIGN.md (benchmark data)")
    return load_food_kitchen(path) if name == "food-kitchen" else load_art_office(path)


def user_groups(ds: Any, train: Any, scenario: str) -> dict[str, np.ndarray]:
    """(n_users,) bool masks ``overlap`` / ``cold`` for ``scenario``, from the training events."""
    from scenerec.schema import C

    idx = ds.user_vocab.indices(train[C.USER_ID]).to_numpy()
    in_t = (train[C.SCENARIO] == scenario).to_numpy()
    n_t = np.bincount(idx[in_t], minlength=ds.n_users)
    n_other = np.bincount(idx[~in_t], minlength=ds.n_users)
    return {"overlap": (n_t > 0) & (n_other > 0), "cold": (n_t == 0) & (n_other > 0)}


# ------------------------------------------------------------------------------- child
def child(job: dict[str, Any]) -> dict[str, Any]:
    """Fit one (model, scope, text) variant on one release; evaluate it on each target."""
    import polars as pl

    from scenerec.data.dataset import Dataset
    from scenerec.schema import C

    spec = BenchModel(**job["spec"])
    overrides = deep_merge(job.get("overrides", {}), job.get("variant", {}))
    make_model(spec, overrides)  # skip early when the model cannot run yet
    loaded = load_release(job["release"])
    parts = loaded.predefined_split
    ds = Dataset(loaded.events, loaded.catalog, loaded.users, name=job["release"])
    train, test = parts["train"], parts["test"]
    targets: list[str] = job["targets"]
    out: dict[str, Any] = {"targets": {}}
    # (targets evaluated, events the model fits on, events that define the user groups)
    fits: list[tuple[list[str], Any, Any]] = []
    one_target_each = (
        test.group_by(C.USER_ID).agg(pl.col(C.SCENARIO).n_unique())[C.SCENARIO].max() == 1
    )
    if job["cold"] and job["scope"] == "all" and one_target_each:
        # Each test user has targets in one scenario only (Food-Kitchen): one fit serves every
        # target, with each test user's own history in their target scenario removed.
        held = test.select(C.USER_ID, C.SCENARIO).unique()
        seen = train.join(held, on=[C.USER_ID, C.SCENARIO], how="anti")
        fits.append((targets, seen, seen))
    elif job["cold"] or job["scope"] == "target":
        for t in targets:
            seen = train
            if job["cold"]:
                # The test users' own history in t is removed: they are cold in t.
                users = test.filter(pl.col(C.SCENARIO) == t)[C.USER_ID].unique().implode()
                seen = train.filter(~(pl.col(C.USER_ID).is_in(users) & (pl.col(C.SCENARIO) == t)))
            fit_on = seen.filter(pl.col(C.SCENARIO) == t) if job["scope"] == "target" else seen
            fits.append(([t], fit_on, seen))
    else:
        fits.append((targets, train, train))
    for seed in job["seeds"]:
        for scen_list, events, seen in fits:
            model = make_model(spec, {**overrides, "seed": seed})
            t0 = time.perf_counter()
            fit_data = ds.subset(events, name=f"{job['release']}:{job['scope']}")
            model.fit(fit_data, options=fit_options())
            fit_s = time.perf_counter() - t0
            info = getattr(model, "fit_info", {}) or {}
            train_info = info.get("train", {}) if isinstance(info.get("train"), dict) else {}
            for t in scen_list:
                t1 = time.perf_counter()
                metrics = evaluate_target(model, ds, fit_data, seen, test, t, seed)
                res = out["targets"].setdefault(t, {"runs": []})
                res["runs"].append(
                    {
                        "seed": seed,
                        "fit_s": fit_s,
                        "eval_s": time.perf_counter() - t1,
                        "epochs": train_info.get("epochs_run"),
                        "stopped": train_info.get("stopped"),
                        "train_events": events.height,
                        **metrics,
                    }
                )
            del model
    return out


def evaluate_target(
    model: Any, ds: Any, fit_data: Any, train: Any, test: Any, target: str, seed: int
) -> dict[str, Any]:
    """Full and sampled ranking of ``target``'s test events, by user group.

    Returns:
        ``{"full": {group: {metric: mean, "users": n}}, "sampled": {...}}``.
    """
    from scenerec.eval.protocol import evaluate

    masks = user_groups(ds, train, target)
    out: dict[str, Any] = {}
    for protocol in ("full", "sampled"):
        res = evaluate(
            model,
            test,
            train=fit_data,
            ks=KS,
            scenarios=[target],
            protocol=protocol,
            n_negatives=N_NEGATIVES,
            seed=seed,
            beyond_accuracy=False,
        )
        sr = res.scenarios[target]
        by_group: dict[str, dict[str, float]] = {}
        for group in GROUPS:
            rows = np.ones(len(sr.user_idx), bool) if group == "all" else masks[group][sr.user_idx]
            n = int(rows.sum())
            by_group[group] = {
                name: float(v[rows].mean()) if n else float("nan")
                for name, v in sr.per_user.items()
            }
            by_group[group]["users"] = float(n)
        out[protocol] = by_group
    return out


# ------------------------------------------------------------------------------- parent
def variants(spec: BenchModel) -> list[tuple[str, bool, dict[str, Any]]]:
    """``(scope, text, overrides)`` for every run of a spec (text ablation for text models)."""
    out: list[tuple[str, bool, dict[str, Any]]] = []
    for scope in spec.scopes:
        out.append((scope, spec.no_text is not None or spec.model == "fusion", {}))
        if spec.no_text is not None:
            out.append((scope, False, dict(spec.no_text)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--releases", default=",".join(RELEASES), help="comma-separated")
    ap.add_argument("--models", help="comma-separated labels or model names (default: all)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--quick", action="store_true", help="one seed, one epoch")
    ap.add_argument("--no-cold", action="store_true", help="skip the cold-in-target protocol")
    ap.add_argument("--timeout", type=float, default=2400.0, help="seconds per model run")
    ap.add_argument(
        "--update", action="store_true", help="keep the other runs of the last results JSON"
    )
    ap.add_argument(
        "--render", action="store_true", help="only redraw the tables of the last results JSON"
    )
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--child-out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child_entry(args.child, args.child_out, child)
        return

    specs = [] if args.render else select_specs(_load_specs(NAME), args.models)
    seeds = args.seeds[:1] if args.quick else args.seeds
    releases = [r.strip() for r in args.releases.split(",") if r.strip()]
    unknown = set(releases) - set(RELEASES)
    if unknown:
        raise SystemExit(f"--releases: unknown {sorted(unknown)}; choose among {list(RELEASES)}")
    results: list[dict[str, Any]] = []
    data: dict[str, Any] = {}
    for release in [] if args.render else releases:
        loaded = load_release(release)
        targets = sorted(loaded.predefined_split["test"]["scenario"].unique().to_list())
        data[release] = {"targets": targets, "summary": loaded.summary()}
        for spec in specs:
            for scope, text, variant in variants(spec):
                # Cold protocol: cross-scenario runs of the specs marked ``cold`` (not their
                # no-text ablation, to save time), plus Popularity, which is what every
                # single-scenario model returns for a user without history in the target.
                cold_too = (
                    not args.no_cold
                    and spec.cold
                    and not variant
                    and (scope == "all" or spec.model == "popularity")
                )
                for cold in (False, True) if cold_too else (False,):
                    job = {
                        "spec": spec.__dict__,
                        "release": release,
                        "targets": targets,
                        "scope": scope,
                        "cold": cold,
                        "variant": variant,
                        "seeds": seeds[: spec.max_seeds] if spec.max_seeds else seeds,
                        "overrides": spec.quick if args.quick else {},
                    }
                    out = run_child(__file__, job, args.timeout)
                    out.update(
                        release=release,
                        label=spec.label,
                        model=spec.model,
                        scope=scope,
                        text=text,
                        protocol="cold" if cold else "warm",
                    )
                    results.append(out)
                    _progress(out)
    if args.update or args.render:
        keys = ("release", "label", "scope", "text", "protocol")
        results = merge_previous(NAME, results, keys)
        data = {**_previous_data(), **data}
    rows, gains = _tables(results, data)
    write_json(
        NAME,
        {
            "protocol": {
                "split": "predefined (release's train / test); valid targets unused",
                "single_scenario": "fit on the target scenario's training events only",
                "cross_scenario": "fit on every scenario's training events",
                "warm": "the release's split as shipped",
                "cold": "the test users' own training events in the target scenario removed "
                "before fitting (one fit per target, or one in all when each test user has "
                "targets in one scenario only); single-scenario models then return the "
                "target's popularity for them, which the Popularity row measures",
                "ranking": f"full (train items excluded) and sampled ({N_NEGATIVES} negatives)",
                "groups": "overlap: train history in target and elsewhere; cold: only elsewhere",
                "seeds": seeds,
                "quick": args.quick,
            },
            "data": data,
            "models": results,
            "table": rows,
            "gains": gains,
        },
    )


def _previous_data() -> dict[str, Any]:
    """The ``data`` block of the last results JSON (releases run before an ``--update``)."""
    path = RESULTS / f"{NAME}.json"
    if not path.exists():
        return {}
    previous: dict[str, Any] = json.loads(path.read_text(encoding="utf-8")).get("data", {})
    return previous


def _name(out: dict[str, Any]) -> str:
    text = "" if out["text"] or out["model"] != FLAGSHIP else ", no text"
    return f"{out['label']} [{out['scope']}{text}]"


def _progress(out: dict[str, Any]) -> None:
    name = f"{out['release']} {out['protocol']} {_name(out)}"
    if out["status"] == "ok":
        parts = []
        for t, res in out["targets"].items():
            nd = [r["full"]["all"]["ndcg@10"] for r in res["runs"]]
            parts.append(f"{t} NDCG@10 {pm(nd)}")
        msg = "; ".join(parts)
    else:
        msg = f"{out['status']}: {out.get('reason', '')}"
    print(f"[{name}] {msg} ({out['wall_s']:.0f} s)", file=sys.stderr, flush=True)


def _nd(out: dict[str, Any] | None, target: str, group: str = "all") -> float:
    if out is None:
        return float("nan")
    runs = out["targets"][target]["runs"]
    return mean_std([r["full"][group]["ndcg@10"] for r in runs])[0]


def _tables(
    results: list[dict[str, Any]], data: dict[str, Any]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    all_rows: list[dict[str, Any]] = []
    gains: list[dict[str, Any]] = []
    for release, info in data.items():
        for t in info["targets"]:
            for protocol in ("warm", "cold"):
                rows = _rows(results, release, t, protocol)
                if not rows:
                    continue
                what = "as shipped" if protocol == "warm" else "test users made cold in target"
                print_table(f"{release}, target {t}, {what}: @10", rows)
                all_rows.extend(rows)
            gains.append(_gains(results, release, t))
    print_table("gains (NDCG@10, full ranking, all test users of the target)", gains)
    print("\nMarkdown (results):\n" + markdown_table(all_rows))
    print("\nMarkdown (gains):\n" + markdown_table(gains))
    return all_rows, gains


def _rows(
    results: list[dict[str, Any]], release: str, t: str, protocol: str
) -> list[dict[str, Any]]:
    rows = []
    for out in results:
        if out["release"] != release or out["protocol"] != protocol:
            continue
        row: dict[str, Any] = {
            "release": release,
            "target": t,
            "protocol": protocol,
            "model": _name(out),
        }
        if out["status"] != "ok" or t not in out.get("targets", {}):
            reason = out.get("reason", "not run")
            row["NDCG@10"] = f"{out['status']}: {str(reason)[:70]}"
            rows.append(row)
            continue
        runs = out["targets"][t]["runs"]
        full = runs[0]["full"]
        row.update(
            {
                "NDCG@10": pm([r["full"]["all"]["ndcg@10"] for r in runs]),
                "Hit@10": pm([r["full"]["all"]["hit@10"] for r in runs]),
                "NDCG@10 overlap": pm([r["full"]["overlap"]["ndcg@10"] for r in runs]),
                "NDCG@10 cold": pm([r["full"]["cold"]["ndcg@10"] for r in runs]),
                "sampled NDCG@10": pm([r["sampled"]["all"]["ndcg@10"] for r in runs]),
                "sampled Hit@10": pm([r["sampled"]["all"]["hit@10"] for r in runs]),
                "users all/overlap/cold": "/".join(str(int(full[g]["users"])) for g in GROUPS),
                "epochs": "/".join(str(r["epochs"]) for r in runs if r["epochs"]) or "-",
                "fit s": pm([r["fit_s"] for r in runs], 1),
                "peak MiB": f"{out['peak_rss_mb']:,.0f}",
            }
        )
        rows.append(row)
    return align_rows(rows)


def _gains(results: list[dict[str, Any]], release: str, t: str) -> dict[str, Any]:
    """Flagship vs the best single-scenario model, and the text / other-scenario ablations."""
    ok = [
        o
        for o in results
        if o["release"] == release and o["status"] == "ok" and t in o.get("targets", {})
    ]

    def pick(protocol: str, scope: str, text: bool | None = None) -> list[dict[str, Any]]:
        return [
            o
            for o in ok
            if o["protocol"] == protocol
            and o["scope"] == scope
            and (text is None or (o["model"] == FLAGSHIP and o["text"] == text))
        ]

    # Single-scenario baselines; the flagship's own target-only runs are its ablation rows.
    baselines = [o for o in pick("warm", "target") if o["model"] != FLAGSHIP]
    best_single = max(baselines, key=lambda o: _nd(o, t), default=None)
    # For users cold in t every single-scenario model returns t's popularity (measured once).
    cold_single = next((o for o in pick("cold", "target") if o["model"] == "popularity"), None)

    def one(protocol: str, scope: str, text: bool) -> dict[str, Any] | None:
        found = pick(protocol, scope, text)
        return found[0] if found else None

    full, no_text = one("warm", "all", True), one("warm", "all", False)
    no_other, neither = one("warm", "target", True), one("warm", "target", False)
    cold_full = one("cold", "all", True)
    best_cross = max(pick("warm", "all"), key=lambda o: _nd(o, t), default=None)
    best_cross_cold = max(pick("cold", "all"), key=lambda o: _nd(o, t), default=None)

    def gain(a: dict[str, Any] | None, b: dict[str, Any] | None) -> float:
        base = _nd(b, t)
        return _nd(a, t) / base - 1 if base and base == base else float("nan")

    def fmt(x: float) -> str:
        return "n/a" if x != x else f"{x:+.1%}"

    g_all, g_cold = gain(full, best_single), gain(cold_full, cold_single)
    g_no_text = gain(no_text, best_single)
    return {
        "release": release,
        "target": t,
        "best single": "n/a" if best_single is None else _name(best_single),
        "best single NDCG@10": _nd(best_single, t),
        "best cross": "n/a" if best_cross is None else _name(best_cross),
        "best cross NDCG@10": _nd(best_cross, t),
        "flagship NDCG@10": _nd(full, t),
        "flagship vs best single": fmt(g_all),
        "flagship (no text) vs best single": fmt(g_no_text),
        "cold: best cross": "n/a" if best_cross_cold is None else _name(best_cross_cold),
        "cold: flagship NDCG@10": _nd(cold_full, t),
        "cold: flagship vs popularity": fmt(g_cold),
        "text gain": fmt(gain(full, no_text)),
        "other-scen. gain (text)": fmt(gain(full, no_other)),
        "other-scen. gain (no text)": fmt(gain(no_text, neither)),
        "both vs neither": fmt(gain(full, neither)),
        "goal +10% all": "n/a" if g_all != g_all else str(g_all >= TARGET_GAIN_ALL),
        # "a wider margin for cold users": larger than the all-users gain, and itself >= +10 %.
        "goal cold > all": "n/a"
        if g_all != g_all or g_cold != g_cold
        else str(g_cold > g_all and g_cold >= TARGET_GAIN_ALL),
        "goal text > no text": "n/a"
        if g_all != g_all or g_no_text != g_no_text
        else str(g_all > g_no_text),
    }


if __name__ == "__main__":
    main()
