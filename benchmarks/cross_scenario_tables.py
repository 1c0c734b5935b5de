"""Tables of benchmarks/cross_scenario.py: every run's row, and the gains the issues ask about.

Gains per target (NDCG@10, full ranking, mean over seeds): the flagship (CrossScenarioRanker on
all scenarios, with text) against the best *baseline* (any row that is not one of scenerec's own
models, any scope), for all test users, for users cold in the target (cold protocol), and on new
items (new-item protocol); the flagship's text vs id-only; ScenarioFusion against the best
single-scenario model and against single-scenario ALS, the factor model whose per-scenario user
vectors it fuses.
"""

from __future__ import annotations

from typing import Any

from _common import align_rows, markdown_table, mean_std, pm, print_table
from cross_scenario_data import degenerate

FLAGSHIP = "cross_scenario_ranker"
OWN = {"fusion", "cross_scenario_transformer", FLAGSHIP}
GOAL_GAIN = 0.10
GOAL_FLOOR = -0.05


def _name(o: dict[str, Any]) -> str:
    return f"{o['label']} [{o['scope']}{', no text' if o.get('ablation') else ''}]"


def _degenerate(o: dict[str, Any], t: str) -> str | None:
    """Why a stored row must not count (rows of runs from before the check was made, merged
    by ``--update``, are checked again here), or ``None``."""
    for r in o["targets"][t]["runs"]:
        if "full" not in r:
            continue
        why = degenerate(r, {"epochs_run": r.get("epochs"), "stopped": r.get("stopped")})
        if why is not None:
            return f"degenerate (seed {r.get('seed')}): {why}"
    return None


def _nd(o: dict[str, Any] | None, t: str, group: str = "all", proto: str = "full") -> float:
    if o is None or o.get("status") != "ok" or t not in o.get("targets", {}):
        return float("nan")
    if _degenerate(o, t) is not None:
        return float("nan")
    # rows of older runs (merged by --update) may lack a protocol or group: NaN, never a crash
    runs = o["targets"][t]["runs"]
    vals = [r.get(proto, {}).get(group, {}).get("ndcg@10", float("nan")) for r in runs]
    return mean_std(vals)[0]


def _rows(
    results: list[dict[str, Any]], release: str, t: str, protocol: str
) -> list[dict[str, Any]]:
    rows = []
    for o in results:
        if o["release"] != release or o["protocol"] != protocol:
            continue
        row: dict[str, Any] = {
            "release": release,
            "target": t,
            "protocol": protocol,
            "model": _name(o),
        }
        if t in o.get("skipped", {}):  # the row ran, but this target did not suit it
            row["NDCG@10"] = f"skipped: {o['skipped'][t][:80]}"
            rows.append(row)
            continue
        if o["status"] != "ok" or t not in o.get("targets", {}):
            row["NDCG@10"] = f"{o['status']}: {str(o.get('reason', 'not run'))[:80]}"
            rows.append(row)
            continue
        why = _degenerate(o, t)
        if why is not None:
            row["NDCG@10"] = f"failed: {why}"[:90]
            rows.append(row)
            continue
        runs = o["targets"][t]["runs"]

        def col(proto: str, group: str, metric: str = "ndcg@10", rs: list[Any] = runs) -> str:
            # rows of older runs (merged by --update) may lack a protocol or group
            vals = [r.get(proto, {}).get(group, {}).get(metric, float("nan")) for r in rs]
            return "-" if any(v != v for v in vals) else pm(vals)

        row.update(
            {
                "NDCG@10": col("full", "all"),
                "Hit@10": col("full", "all", "hit@10"),
                "NDCG@10 cold-in-target": col("full", "cold_in_target"),
                "NDCG@10 new items": col("full", "new_items"),
                "sampled NDCG@10": col("sampled", "all"),
                "sampled Hit@10": col("sampled", "all", "hit@10"),
                "users": int(runs[0].get("full", {}).get("all", {}).get("users", 0)),
                "epochs": "/".join(str(r["epochs"]) for r in runs if r["epochs"]) or "-",
                "plan": "/".join(sorted({str(r["plan"]) for r in runs if r.get("plan")})) or "-",
                "fit s": pm([r["fit_s"] for r in runs], 1),
                "peak MiB": f"{o.get('peak_rss_mb', 0):,.0f}",
            }
        )
        rows.append(row)
    return align_rows(rows)


def _gain(a: float, b: float) -> float:
    return a / b - 1 if b == b and b > 0 and a == a else float("nan")


def _fmt(x: float) -> str:
    return "n/a" if x != x else f"{x:+.1%}"


def _gains(results: list[dict[str, Any]], release: str, t: str) -> dict[str, Any]:
    ok = [o for o in results if o["release"] == release and o.get("status") == "ok"]

    def pick(proto: str, **kw: Any) -> list[dict[str, Any]]:
        return [
            o
            for o in ok
            if o["protocol"] == proto
            and t in o.get("targets", {})
            and all(o.get(k) == v for k, v in kw.items())
        ]

    def best(cands: list[dict[str, Any]], group: str = "all") -> dict[str, Any] | None:
        cands = [o for o in cands if _nd(o, t, group) == _nd(o, t, group)]
        return max(cands, key=lambda o: _nd(o, t, group), default=None)

    def one(proto: str, model: str, **kw: Any) -> dict[str, Any] | None:
        # a model's own row, not a measured variant of it ("CrossScenarioRanker (...)")
        found = [o for o in pick(proto, model=model, **kw) if "(" not in o["label"]]
        return found[-1] if found else None  # --update appends the newest run

    def cold(o: dict[str, Any] | None) -> float:
        # on the cold protocol every test user is cold in the target; older rows lack the group
        v = _nd(o, t, "cold_in_target")
        return v if v == v else _nd(o, t)

    base = best([o for o in pick("warm") if o["model"] not in OWN])
    flag = one("warm", FLAGSHIP, scope="all", ablation=False)
    flag_ids = one("warm", FLAGSHIP, scope="all", ablation=True)
    cold_rows = [o for o in pick("cold") if o["model"] not in OWN and cold(o) == cold(o)]
    cold_base = max(cold_rows, key=cold, default=None)
    cold_flag = one("cold", FLAGSHIP, scope="all", ablation=False)
    new_flag = one("new_items", FLAGSHIP, scope="all", ablation=False)
    new_ids = one("new_items", FLAGSHIP, scope="all", ablation=True)
    g = _gain(_nd(flag, t), _nd(base, t))
    fusion = one("warm", "fusion", scope="all", ablation=False)
    singles = [o for o in pick("warm", scope="target") if o["model"] not in OWN]
    best_single = best(singles)
    als_single = one("warm", "als", scope="target")  # the factor model whose vectors it fuses
    return {
        "release": release,
        "target": t,
        "best baseline": "n/a" if base is None else _name(base),
        "baseline NDCG@10": _nd(base, t),
        "flagship NDCG@10": _nd(flag, t),
        "flagship vs best baseline": _fmt(g),
        "sampled: baseline / flagship": f"{_nd(base, t, proto='sampled'):.4f} / "
        f"{_nd(flag, t, proto='sampled'):.4f}",
        "cold: best baseline / flagship": f"{cold(cold_base):.4f} / {cold(cold_flag):.4f}",
        "text vs id-only (all)": _fmt(_gain(_nd(flag, t), _nd(flag_ids, t))),
        "new items: text / id-only": f"{_nd(new_flag, t, 'new_items'):.4f} / "
        f"{_nd(new_ids, t, 'new_items'):.4f}",
        "fusion vs best single": _fmt(_gain(_nd(fusion, t), _nd(best_single, t))),
        "fusion vs ALS [target]": _fmt(_gain(_nd(fusion, t), _nd(als_single, t))),
        "goal >= +10%": "n/a" if g != g else str(g >= GOAL_GAIN),
        "goal never < -5%": "n/a" if g != g else str(g >= GOAL_FLOOR),
    }


def render(
    results: list[dict[str, Any]], data: dict[str, Any]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Print every table (terminal and Markdown); return the run rows and the gains rows."""
    all_rows: list[dict[str, Any]] = []
    gains: list[dict[str, Any]] = []
    for release, info in data.items():
        for t in info["targets"]:
            for protocol in ("warm", "cold", "new_items"):
                rows = _rows(results, release, t, protocol)
                if rows:
                    print_table(f"{release}, target {t}, protocol {protocol}: @10", rows)
                    all_rows.extend(rows)
            gains.append(_gains(results, release, t))
    print_table("gains (NDCG@10, full ranking, mean over seeds)", gains)
    print("\nMarkdown (results):\n" + markdown_table(all_rows))
    print("\nMarkdown (gains):\n" + markdown_table(gains))
    return all_rows, gains


__all__ = ["FLAGSHIP", "OWN", "render"]
