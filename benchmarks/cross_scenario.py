"""Cross-scenario recommendation on any cross-domain data set: tuned baselines vs the flagship.

Data (``cross_scenario_data.py``): the two releases in ``../shared/data`` by default
(``food-kitchen``: scenarios ``food``, ``kitchen``; ``art-office``: ``art``, ``office``), any folder
in their formats (``--release NAME=FOLDER [--scenarios A,B]``), or CSV/Parquet files with a
predefined split (``--source NAME=FOLDER``). ``train`` holds every event a model may fit on
(including the valid/test users' histories); ``test`` one target event per instance; ``valid``
(when given) is used for tuning only.

Models (``benchmarks/configs/cross_scenario.yaml``): each row fits on the target scenario's
events only (scope ``target``: one fit per target) and/or on every scenario's events (``all``).
Rows marked ``tune`` are searched with Optuna on the validation targets, the same number of
trials each (``--tune N``; chosen parameters in ``benchmarks/configs/cross_scenario.tuned.yaml``,
used by every later run; nothing is tuned on test; a row's ``tuning`` overrides apply to its
trials only, e.g. a shorter training budget). The flagship is the CrossScenarioRanker.

Protocols: ``warm`` (as given), ``cold`` (the test users' own target history removed before
fitting), ``new_items`` (every training event of a random 10% of the target's test items removed:
those items are known by their text only). Ranking: full ranking over the target's items (the
user's training items excluded) and the papers' sampled ranking (999 random negatives from the
target), cut-off 10; groups: all test users, ``overlapping``, ``cold_in_target``, ``new_items``
(computed from the events the model saw). Seeds: mean +- std over ``--seeds``. A degenerate run
(NDCG 0, NaN, a neural fit stopped after one epoch) is reported as failed, never as a number.

    .venv/bin/python benchmarks/cross_scenario.py [--tune 12] [--seeds 0 1 2] [--models ...]
        [--releases food-kitchen,art-office] [--release NAME=DIR] [--source NAME=DIR]
        [--scenarios A,B] [--protocols warm,cold,new_items] [--quick]
        [--no-ablation | --only-ablation] [--update [--add-seeds]] [--render]

A target a row does not suit (EASE beyond ``max_items``) is skipped with the reason, the row's
other targets run; ``--add-seeds`` adds a run's seeds to the stored rows instead of replacing them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import yaml

from _common import (
    CONFIGS,
    BenchModel,
    child_entry,
    deep_merge,
    fit_options,
    make_model,
    merge_previous,
    pm,
    run_child,
    select_specs,
    write_json,
)
from _common import load_model_specs as _load_specs
from cross_scenario_data import RELEASES, degenerate, load_source, protocol_fits
from cross_scenario_tables import render

NAME = "cross_scenario"
TUNED = CONFIGS / f"{NAME}.tuned.yaml"
KS = (10,)
N_NEGATIVES = 999
GROUPS = ("all", "overlapping", "cold_in_target", "new_items")


# ------------------------------------------------------------------------------- child
def child(job: dict[str, Any]) -> dict[str, Any]:
    """One job in a fresh process: ``tune`` a row on the validation targets, or ``eval`` it."""
    return _tune(job) if job["kind"] == "tune" else _eval(job)


def _dataset(src: Any) -> Any:
    from scenerec.data.dataset import Dataset

    return Dataset(src.events, src.catalog, name=src.name)


def _params(job: dict[str, Any], key: str) -> dict[str, Any]:
    """The row's overrides: tuned parameters (for this scope and target), then the job's."""
    tuned = job.get("tuned", {}).get(job["scope"], {}).get(key, {})
    return deep_merge(tuned, deep_merge(job.get("overrides", {}), job.get("variant", {})))


def _tune(job: dict[str, Any]) -> dict[str, Any]:
    import polars as pl

    from scenerec.errors import ConfigError
    from scenerec.tune import DEFAULT_SPACES, tune_model

    spec = BenchModel(**job["spec"])
    src = load_source(job["source"])
    if src.valid is None or src.valid.height == 0:
        raise SystemExit(f"{src.name}: no validation split to tune on")
    ds = _dataset(src)
    out: dict[str, Any] = {}
    keys = src.targets if job["scope"] == "target" else ["all"]
    for key in keys:
        train = src.train if key == "all" else src.train.filter(pl.col("scenario") == key)
        valid = src.valid if key == "all" else src.valid.filter(pl.col("scenario") == key)
        try:
            res = tune_model(
                spec.spec(job.get("overrides", {})),
                ds.subset(train),
                valid,
                trials=job["trials"],
                space=DEFAULT_SPACES[spec.model],
                seed=job["seed"],
                options=fit_options(),
                scenarios=None if key == "all" else [key],
            )
        except ConfigError as e:  # this target does not suit the row; the others are tuned
            if key == "all":
                raise
            print(f"[tune {spec.label} {key}] skipped: {e}", file=sys.stderr)
            continue
        out[key] = {"best": _flat(res.trials, res.best_value), "trials": res.trials}
    return {"tuned": out}


def _flat(trials: list[dict[str, Any]], best: float) -> dict[str, Any]:
    """The sampled parameters of the best trial (dotted names, as ``deep_merge`` takes)."""
    return next(t["params"] for t in trials if t["value"] == best)


def _eval(job: dict[str, Any]) -> dict[str, Any]:
    from scenerec.errors import ConfigError

    spec = BenchModel(**job["spec"])
    src = load_source(job["source"])
    ds = _dataset(src)
    out: dict[str, Any] = {"targets": {}}
    for seed in job["seeds"]:
        for targets, events, _new in protocol_fits(src, job["protocol"], job["scope"], seed):
            key = targets[0] if job["scope"] == "target" else "all"
            model = make_model(spec, {**_params(job, key), "seed": seed})
            fit_data = ds.subset(events, name=f"{src.name}:{job['scope']}")
            t0 = time.perf_counter()
            try:
                model.fit(fit_data, options=fit_options())
            except ConfigError as e:  # this target's data do not suit the row (EASE's max_items)
                if job["scope"] != "target":
                    raise
                out.setdefault("skipped", {})[key] = f"ConfigError: {e}"
                continue
            fit_s = time.perf_counter() - t0
            info = getattr(model, "fit_info", {}) or {}
            train_info = info.get("train", {}) if isinstance(info.get("train"), dict) else {}
            for t in targets:
                t1 = time.perf_counter()
                metrics = evaluate_target(model, fit_data, src.test, t, seed)
                why = degenerate(metrics, train_info)
                if why is not None:
                    raise RuntimeError(f"degenerate run ({t}, seed {seed}): {why}")
                out["targets"].setdefault(t, {"runs": []})["runs"].append(
                    {
                        "seed": seed,
                        "fit_s": fit_s,
                        "eval_s": time.perf_counter() - t1,
                        "epochs": train_info.get("epochs_run"),
                        "stopped": train_info.get("stopped"),
                        "train_events": events.height,
                        "plan": info.get("targets", {}).get(t, {}).get("plan"),
                        # where the fit's time went (the flagship: text, generators, rankers)
                        "fit_parts_s": info.get("seconds"),
                        # the flagship's gate: its plans and their held-out label figures
                        "gate": {
                            k: v
                            for k, v in info.get("targets", {}).get(t, {}).items()
                            if k.startswith(("plan", "cold_", "valid_", "label_users", "new_item_"))
                        },
                        **metrics,
                    }
                )
            del model
    return out


def evaluate_target(model: Any, fit_data: Any, test: Any, target: str, seed: int) -> dict[str, Any]:
    """Full and sampled ranking of ``target``'s test events, by user group (groups from the
    events the model was fitted on)."""
    from scenerec.eval.protocol import evaluate

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
        out[protocol] = {g: sr.mean(None if g == "all" else g) for g in GROUPS}
    return out


# ------------------------------------------------------------------------------- parent
def variants(spec: BenchModel) -> list[tuple[str, bool, dict[str, Any]]]:
    """``(scope, text, overrides)`` for every run of a row (its text ablation included)."""
    out: list[tuple[str, bool, dict[str, Any]]] = []
    for scope in spec.scopes:
        out.append((scope, spec.no_text is not None, {}))
        if spec.no_text is not None:
            out.append((scope, False, dict(spec.no_text)))
    return out


def _sources(args: argparse.Namespace) -> list[dict[str, Any]]:
    scen = [s.strip() for s in args.scenarios.split(",")] if args.scenarios else None
    out = [
        {"kind": "release", "name": r.strip(), "path": None, "scenarios": None}
        for r in (args.releases.split(",") if args.releases else [])
        if r.strip()
    ]
    unknown = {s["name"] for s in out} - set(RELEASES)
    if unknown:
        raise SystemExit(f"--releases: unknown {sorted(unknown)}; choose among {list(RELEASES)}")
    for kind, given in (("release", args.release), ("files", args.source)):
        for item in given or []:
            name, _, path = item.partition("=")
            if not path:
                raise SystemExit(f"expected NAME=FOLDER, got {item!r}")
            out.append({"kind": kind, "name": name, "path": path, "scenarios": scen})
    return out


def _protocols(spec: BenchModel, wanted: set[str], variant: dict[str, Any]) -> list[str]:
    out = ["warm"]
    if spec.cold and not variant:
        out.append("cold")
    if spec.new_items:
        out.append("new_items")
    return [p for p in out if p in wanted]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--releases", default=",".join(RELEASES), help="shared releases (comma)")
    ap.add_argument("--release", action="append", help="NAME=FOLDER in a known release format")
    ap.add_argument("--source", action="append", help="NAME=FOLDER with train/valid/test files")
    ap.add_argument("--scenarios", help="domain names for --release folders, e.g. movie,book")
    ap.add_argument("--models", help="comma-separated labels or model names (default: all)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--tune", type=int, default=0, help="Optuna trials per tuned row (0: none)")
    ap.add_argument("--protocols", default="warm,cold,new_items")
    ap.add_argument("--quick", action="store_true", help="one seed, quick params")
    ap.add_argument("--timeout", type=float, default=5400.0, help="seconds per job")
    ap.add_argument("--update", action="store_true", help="keep other rows of the last JSON")
    ap.add_argument(
        "--add-seeds",
        action="store_true",
        help="with --update: add these seeds' runs to the stored row of the same release, model, "
        "scope and protocol (same tuned parameters) instead of replacing it",
    )
    ap.add_argument(
        "--no-ablation",
        action="store_true",
        help="skip the id-only (no text) runs of the rows that have one",
    )
    ap.add_argument(
        "--only-ablation",
        action="store_true",
        help="run only the id-only (no text) runs of the rows that have one",
    )
    ap.add_argument(
        "--render",
        action="store_true",
        help="only print the last JSON's tables again (the JSON is left as it is)",
    )
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--child-out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child_entry(args.child, args.child_out, child)
        return
    specs = [] if args.render else select_specs(_load_specs(NAME), args.models)
    seeds = args.seeds[:1] if args.quick else args.seeds
    sources = [] if args.render else _sources(args)
    tuned = yaml.safe_load(TUNED.read_text(encoding="utf-8")) if TUNED.exists() else {}
    tuned = tuned or {}
    if args.tune:
        _run_tuning(specs, sources, args, tuned)
    results: list[dict[str, Any]] = []
    data: dict[str, Any] = {}
    wanted = {p.strip() for p in args.protocols.split(",")}
    for source in sources:
        src = load_source(source)
        data[src.name] = {"targets": src.targets, "summary": src.summary()}
        for spec in specs:
            for scope, text, variant in variants(spec):
                if (variant and args.no_ablation) or (not variant and args.only_ablation):
                    continue
                for protocol in _protocols(spec, wanted, variant):
                    job = {
                        "kind": "eval",
                        "spec": spec.__dict__,
                        "source": source,
                        "scope": scope,
                        "protocol": protocol,
                        "variant": variant,
                        "tuned": tuned.get(src.name, {}).get(spec.label, {}),
                        "seeds": seeds[: spec.max_seeds] if spec.max_seeds else seeds,
                        "overrides": spec.quick if args.quick else {},
                    }
                    out = run_child(__file__, job, args.timeout)
                    out.update(
                        release=src.name,
                        label=spec.label,
                        model=spec.model,
                        scope=scope,
                        text=text,
                        ablation=bool(variant),
                        protocol=protocol,
                        params=job["tuned"],
                    )
                    results.append(out)
                    _progress(out)
    keys = ("release", "label", "scope", "ablation", "protocol")
    if args.add_seeds:
        if not args.update:
            raise SystemExit("--add-seeds adds runs to the stored rows: use it with --update")
        stored = _previous("models") or []
        results = [_add_seeds(r, stored, keys) for r in results]
    if args.update or args.render:
        results = _configured(merge_previous(NAME, results, keys))
        data = {**_previous("data"), **data}  # the stored rows of other releases keep their data
    rows, gains = render(results, data)
    if args.render:  # the stored JSON stays as its run wrote it (its protocol, its time)
        return
    write_json(
        NAME,
        {
            "protocol": {
                "sources": sources,
                "seeds": seeds,
                "tuned": str(TUNED.relative_to(CONFIGS.parent.parent)) if tuned else None,
                "ranking": f"full (train items excluded) and sampled ({N_NEGATIVES} negatives)",
                "quick": args.quick,
            },
            "data": data,
            "models": results,
            "table": rows,
            "gains": gains,
        },
    )


def _run_tuning(
    specs: list[BenchModel],
    sources: list[dict[str, Any]],
    args: argparse.Namespace,
    tuned: dict[str, Any],
) -> None:
    """Tune every ``tune`` row on each source's validation targets; save the choices."""
    for source in sources:
        for spec in specs:
            if not spec.tune:
                continue
            for scope in spec.scopes:
                job = {
                    "kind": "tune",
                    "spec": spec.__dict__,
                    "source": source,
                    "scope": scope,
                    "trials": args.tune,
                    "seed": 0,
                    "overrides": deep_merge(spec.tuning, spec.quick if args.quick else {}),
                }
                out = run_child(__file__, job, args.timeout)
                if out["status"] != "ok":
                    print(f"[tune {spec.label} {scope}] {out.get('reason')}", file=sys.stderr)
                    continue
                best = {k: v["best"] for k, v in out["tuned"].items()}
                tuned.setdefault(source["name"], {}).setdefault(spec.label, {})[scope] = best
                _save_trials(source["name"], spec.label, scope, out["tuned"], args.tune)
                print(f"[tune {source['name']} {spec.label} {scope}] {best}", file=sys.stderr)
                TUNED.write_text(
                    "# Written by benchmarks/cross_scenario.py --tune: parameters chosen on each\n"
                    "# release's validation targets (release > row > scope > target > params).\n"
                    + yaml.safe_dump(tuned, sort_keys=True),
                    encoding="utf-8",
                )


def _save_trials(
    release: str, label: str, scope: str, tuned: dict[str, Any], n_trials: int
) -> None:
    """Keep every trial of a search (validation NDCG@10 and parameters) beside the results, so
    a chosen configuration can be read against the ones it beat."""
    from _common import RESULTS

    path = RESULTS / f"{NAME}_tuning.json"
    old = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    searches = old.get("searches", {})
    searches.setdefault(release, {}).setdefault(label, {})[scope] = {
        key: {"trials": n_trials, "records": v["trials"]} for key, v in tuned.items()
    }
    write_json(f"{NAME}_tuning", {"metric": "validation ndcg@10", "searches": searches})


def _add_seeds(
    new: dict[str, Any], stored: list[dict[str, Any]], keys: tuple[str, ...]
) -> dict[str, Any]:
    """``new``'s runs added, per target, to the ``stored`` row with the same ``keys`` (its runs
    of other seeds kept); a row run with other tuned parameters is an error, not a merge."""
    old = next((r for r in stored if all(r.get(k) == new.get(k) for k in keys)), None)
    if old is None or new["status"] != "ok" or old["status"] != "ok":
        return new
    if old.get("params", {}) != new.get("params", {}):
        raise SystemExit(
            f"--add-seeds: {new['label']} [{new['scope']}] on {new['release']} {new['protocol']} "
            f"ran with other tuned parameters than the stored row; re-run every seed instead"
        )
    targets = {}
    for t, res in new["targets"].items():
        seeds = {r["seed"] for r in res["runs"]}
        kept = [r for r in old["targets"].get(t, {}).get("runs", []) if r["seed"] not in seeds]
        targets[t] = {**res, "runs": sorted(kept + res["runs"], key=lambda r: r["seed"])}
    return {
        **new,
        "targets": targets,
        "peak_rss_mb": max(old.get("peak_rss_mb", 0), new.get("peak_rss_mb", 0)),
        "wall_s": old.get("wall_s", 0) + new.get("wall_s", 0),
    }


def _configured(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The stored rows of models (label and scope) the config still lists: a row of a model
    or scope since removed from ``benchmarks/configs`` describes code that no longer runs."""
    listed = {(s.label, scope) for s in _load_specs(NAME) for scope in s.scopes}
    keep = []
    for r in results:
        if (r["label"], r["scope"]) in listed:
            keep.append(r)
        else:
            print(f"dropped a stored row the config no longer lists: {r['label']} [{r['scope']}]")
    return keep


def _previous(key: str) -> Any:
    import json

    from _common import RESULTS

    path = RESULTS / f"{NAME}.json"
    return json.loads(path.read_text(encoding="utf-8")).get(key, {}) if path.exists() else {}


def _progress(out: dict[str, Any]) -> None:
    ablation = ", no text" if out.get("ablation") else ""
    name = f"{out['release']} {out['protocol']} {out['label']} [{out['scope']}{ablation}]"
    if out["status"] == "ok":
        parts = [
            f"{t} NDCG@10 {pm([r['full']['all']['ndcg@10'] for r in res['runs']])}"
            for t, res in out["targets"].items()
        ]
        parts += [f"{t} skipped ({why})" for t, why in out.get("skipped", {}).items()]
        msg = "; ".join(parts)
    else:
        msg = f"{out['status']}: {out.get('reason', '')}"
    print(f"[{name}] {msg} ({out['wall_s']:.0f} s)", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
