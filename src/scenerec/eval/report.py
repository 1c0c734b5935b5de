"""Experiment reports: ``report.md`` with markdown tables and matplotlib PNG figures.

``write_report`` takes the plain result data that ``run_experiment`` produces (the same data as
``results.json``) and writes, into one folder:

- ``report.md``: the models (fit seconds, peak memory), then for each protocol a table per
  model x scenario with bootstrap intervals, beyond-accuracy figures, a table per user group,
  and paired comparisons when the data holds them. Sampled ranking is always placed after full
  ranking and labelled as such: it is reported beside full ranking, never instead of it.
- ``<protocol>_bars_at<k>.png``: NDCG@k and Recall@k per scenario, one bar per model, with the
  interval as an error bar.
- ``<protocol>_curves.png``: NDCG@k and Recall@k against k, one line per model, when several
  cut-offs were evaluated.

Expected input (every key but ``models`` is optional)::

    {"config": {"name": str, "eval": {"ks": [...], "protocols": [...], "n_negatives": int}},
     "split": {"train": int, "test": int, ...},
     "models": {label: {"model": str, "fit_seconds": float, "peak_rss_mb": float,
                        "<protocol>": {scenario: {metric@k: mean, "users": n}},
                        "eval": {"<protocol>": EvalResult.to_dict()}}},
     "comparisons": [{"protocol": str, "a": label, "b": label, **compare_results(...)}]}

``models[label]["eval"][protocol]`` (groups and intervals) is preferred when present; a plain
summary under ``models[label][protocol]`` renders without intervals or groups.

Figures are drawn with matplotlib's object API on the Agg canvas, so writing a report neither
needs a display nor changes the global pyplot backend of the calling program.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from scenerec.errors import ConfigError
from scenerec.eval.report_notes import (
    SAME_RECALL_HIT_NOTE,
    baseline_sentence,
    provenance_line,
    recall_is_hit,
    table_metrics,
)

log = logging.getLogger(__name__)

PROTOCOL_ORDER = ("full", "sampled")
PLOT_METRICS = (("ndcg", "NDCG"), ("recall", "Recall"))
BEYOND = (("coverage", "Coverage"), ("gini", "Gini"), ("novelty", "Novelty"))
GROUP_NAMES = {
    "all": "all users",
    "overlapping": "overlapping (train in target and elsewhere)",
    "cold_in_target": "cold in target (train elsewhere only)",
    "new_users": "new users (no train events)",
    "new_items": "with a new item (no train events)",
}


# ---------------------------------------------------------------------------- reading the data
def _protocols(result: Mapping[str, Any]) -> list[str]:
    cfg = (result.get("config") or {}).get("eval") or {}
    listed = list(cfg.get("protocols") or [])
    found = {
        p
        for entry in result["models"].values()
        for p in PROTOCOL_ORDER
        if p in entry or p in (entry.get("eval") or {})
    }
    names = [p for p in listed if p in found] + sorted(found - set(listed))
    # Full ranking first: sampled figures are shown beside it, never in its place.
    return sorted(names, key=lambda p: PROTOCOL_ORDER.index(p) if p in PROTOCOL_ORDER else 99)


def _detail(entry: Mapping[str, Any], protocol: str) -> dict[str, Any]:
    """``EvalResult.to_dict()``-shaped data for one model and protocol."""
    detail = (entry.get("eval") or {}).get(protocol)
    if detail is not None:
        return dict(detail)
    summary = entry.get(protocol)
    return {"summary": summary} if summary is not None else {}


def _ks(result: Mapping[str, Any], protocol: str) -> list[int]:
    for entry in result["models"].values():
        ks = _detail(entry, protocol).get("ks")
        if ks:
            return sorted(int(k) for k in ks)
    cfg_ks = ((result.get("config") or {}).get("eval") or {}).get("ks")
    if cfg_ks:
        return sorted(int(k) for k in cfg_ks)
    found: set[int] = set()
    for entry in result["models"].values():
        for metrics in (_detail(entry, protocol).get("summary") or {}).values():
            for name in metrics:
                head, _, k = name.partition("@")
                if head in ("ndcg", "recall") and k.isdigit():
                    found.add(int(k))
    return sorted(found)


def _interval(detail: Mapping[str, Any], scenario: str, group: str, metric: str) -> list[float]:
    """``[lo, hi]`` when the data holds an interval, else ``[]``."""
    ci = ((detail.get("intervals") or {}).get(scenario) or {}).get(group, {}).get(metric)
    if not ci or ci.get("lo") is None or ci.get("hi") is None:
        return []
    return [float(ci["lo"]), float(ci["hi"])]


def _summaries(result: Mapping[str, Any], protocol: str) -> list[Mapping[str, Any]]:
    """Every model's per-scenario summary of a protocol."""
    return [_detail(e, protocol).get("summary") or {} for e in result["models"].values()]


# ---------------------------------------------------------------------------- formatting
def _num(x: Any, digits: int = 4) -> str:
    if x is None:
        return "–"
    v = float(x)
    return "–" if math.isnan(v) else f"{v:.{digits}f}"


def _cell(value: Any, ci: Sequence[float | None]) -> str:
    text = _num(value)
    if ci and text != "–" and all(c is not None and math.isfinite(c) for c in ci):
        text += f" [{ci[0]:.4f}, {ci[1]:.4f}]"
    return text


def _md_escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], right_from: int = 1) -> str:
    align = ["---" if i < right_from else "---:" for i in range(len(header))]
    lines = [
        "| " + " | ".join(_md_escape(h) for h in header) + " |",
        "| " + " | ".join(align) + " |",
    ]
    lines += ["| " + " | ".join(_md_escape(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _protocol_title(protocol: str, detail_n: int | None) -> str:
    if protocol == "full":
        return (
            "Full ranking (all items of the target scenario; train and validation items excluded)"
        )
    if protocol == "sampled":
        n = f"{detail_n} " if detail_n else ""
        return (
            f"Sampled ranking ({n}random negatives per held-out item; shown beside full "
            "ranking, not comparable with it)"
        )
    return f"{protocol} ranking"


# ---------------------------------------------------------------------------- sections
def _models_section(result: Mapping[str, Any]) -> str:
    rows = []
    for label, entry in result["models"].items():
        rows.append(
            [
                label,
                str(entry.get("model", "")),
                _num(entry.get("fit_seconds"), 2),
                _num(entry.get("peak_rss_mb"), 0),
            ]
        )
    return _table(["model", "type", "fit seconds", "peak memory (MB)"], rows, right_from=2)


def _main_table(result: Mapping[str, Any], protocol: str, ks: Sequence[int]) -> str:
    # sampled ranking has one row per held-out item, not per user
    header = ["model", "scenario", "held-out items" if protocol == "sampled" else "users"]
    metrics = table_metrics(_summaries(result, protocol), ks)
    for k in ks:
        header += [f"{disp}@{k}" for _, disp in metrics]
    rows = []
    for label, entry in result["models"].items():
        detail = _detail(entry, protocol)
        for scen, m in (detail.get("summary") or {}).items():
            row = [label, scen, f"{int(m.get('users', 0)):,}"]
            for k in ks:
                for key, _ in metrics:
                    name = f"{key}@{k}"
                    row.append(_cell(m.get(name), _interval(detail, scen, "all", name)))
            rows.append(row)
    return _table(header, rows, right_from=2)


def _beyond_table(result: Mapping[str, Any], protocol: str, ks: Sequence[int]) -> str | None:
    header = ["model", "scenario"] + [f"{disp}@{k}" for k in ks for _, disp in BEYOND]
    rows = []
    for label, entry in result["models"].items():
        for scen, m in (_detail(entry, protocol).get("summary") or {}).items():
            if not any(f"{key}@{k}" in m for k in ks for key, _ in BEYOND):
                continue
            rows.append(
                [label, scen] + [_num(m.get(f"{key}@{k}")) for k in ks for key, _ in BEYOND]
            )
    return _table(header, rows, right_from=2) if rows else None


def _groups_table(result: Mapping[str, Any], protocol: str, k: int) -> str | None:
    rows_name = "held-out items" if protocol == "sampled" else "users"
    metrics = table_metrics(_summaries(result, protocol), [k])
    header = ["model", "scenario", "group", rows_name] + [f"{d}@{k}" for _, d in metrics]
    rows = []
    for label, entry in result["models"].items():
        detail = _detail(entry, protocol)
        for scen, groups in (detail.get("groups") or {}).items():
            for group, m in groups.items():
                if group == "all" or not m.get("users"):
                    continue
                row = [label, scen, GROUP_NAMES.get(group, group), f"{int(m['users']):,}"]
                for key, _ in metrics:
                    name = f"{key}@{k}"
                    row.append(_cell(m.get(name), _interval(detail, scen, group, name)))
                rows.append(row)
    return _table(header, rows, right_from=3) if rows else None


def _comparisons_table(result: Mapping[str, Any], protocol: str) -> str | None:
    rows = []
    for c in result.get("comparisons") or []:
        if c.get("protocol", protocol) != protocol:
            continue
        boot, tests = c.get("bootstrap") or {}, c.get("tests") or {}
        rows.append(
            [
                str(c.get("a", "A")),
                str(c.get("b", "B")),
                str(c.get("metric", "")),
                str(c.get("scenario", "all")),
                GROUP_NAMES.get(str(c.get("group", "all")), str(c.get("group", "all"))),
                f"{int(c.get('n', 0)):,}",
                _cell(boot.get("mean_diff"), [boot.get("lo"), boot.get("hi")]),
                _num(boot.get("p_value")),
                _num(tests.get("t_p_value")),
                _num(tests.get("wilcoxon_p_value")),
            ]
        )
    if not rows:
        return None
    header = [
        "A",
        "B",
        "metric",
        "scenario",
        "users",
        "paired rows",
        "mean A − B (interval)",
        "bootstrap p",
        "t-test p",
        "Wilcoxon p",
    ]
    return _table(header, rows, right_from=5)


# ---------------------------------------------------------------------------- figures
def _bars(result: Mapping[str, Any], protocol: str, k: int, path: Path) -> bool:
    """Grouped bars per scenario, one per model, with interval error bars. False if empty."""
    from matplotlib.figure import Figure

    labels = list(result["models"])
    details = [_detail(result["models"][m], protocol) for m in labels]
    scenarios: list[str] = []
    for d in details:
        for s in d.get("summary") or {}:
            if s not in scenarios:
                scenarios.append(s)
    if not scenarios or not labels:
        return False
    # each panel grows with the number of bars so that labels stay readable
    panel = max(4.0, 1.0 + 0.35 * len(scenarios) * len(labels))
    fig = Figure(figsize=(len(PLOT_METRICS) * panel, 3.6))
    axes = fig.subplots(1, len(PLOT_METRICS), squeeze=False)[0]
    width = 0.8 / len(labels)
    for ax, (key, disp) in zip(axes, PLOT_METRICS, strict=True):
        name = f"{key}@{k}"
        for j, (label, d) in enumerate(zip(labels, details, strict=True)):
            summary = d.get("summary") or {}
            xs, ys, lo_err, hi_err = [], [], [], []
            for i, s in enumerate(scenarios):
                v = (summary.get(s) or {}).get(name)
                if v is None or math.isnan(float(v)):
                    continue
                ci = _interval(d, s, "all", name)
                xs.append(i + (j - (len(labels) - 1) / 2) * width)
                ys.append(float(v))
                lo_err.append(max(float(v) - ci[0], 0.0) if ci else 0.0)
                hi_err.append(max(ci[1] - float(v), 0.0) if ci else 0.0)
            ax.bar(xs, ys, width=width, label=label, yerr=[lo_err, hi_err], capsize=3)
        ax.set_xticks(range(len(scenarios)), scenarios)
        ax.set_title(f"{disp}@{k}")
        ax.set_ylim(bottom=0)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(f"{protocol} ranking: mean over test rows, bootstrap interval")
    _legend_below(fig, axes[0], len(labels))
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return True


def _curves(result: Mapping[str, Any], protocol: str, ks: Sequence[int], path: Path) -> bool:
    """Metric@k against k, one line per model (pooled over scenarios). False if empty."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9.0, 3.6))
    axes = fig.subplots(1, len(PLOT_METRICS), squeeze=False)[0]
    drawn = False
    for ax, (key, disp) in zip(axes, PLOT_METRICS, strict=True):
        for label, entry in result["models"].items():
            d = _detail(entry, protocol)
            summary = d.get("summary") or {}
            scen = "all" if "all" in summary else next(iter(summary), None)
            if scen is None:
                continue
            pts = [(k, summary[scen].get(f"{key}@{k}")) for k in ks]
            pts = [(k, float(v)) for k, v in pts if v is not None and not math.isnan(float(v))]
            if not pts:
                continue
            xs, ys = [p[0] for p in pts], [p[1] for p in pts]
            (line,) = ax.plot(xs, ys, marker="o", label=label)
            cis = [_interval(d, scen, "all", f"{key}@{k}") for k in xs]
            if all(cis):
                lo, hi = [c[0] for c in cis], [c[1] for c in cis]
                ax.fill_between(xs, lo, hi, alpha=0.15, color=line.get_color(), linewidth=0)
            drawn = True
        ax.set_xlabel("k")
        ax.set_title(f"{disp}@k")
        ax.set_xticks(list(ks))
        ax.grid(alpha=0.3)
    if not drawn:
        return False
    fig.suptitle(f"{protocol} ranking: metric@k (all scenarios pooled)")
    _legend_below(fig, axes[0], len(result["models"]))
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return True


def _legend_below(fig: Any, ax: Any, n: int) -> None:
    """One legend under the axes, so it never hides a bar or a line (after the suptitle, so
    that the layout leaves room for it)."""
    handles, labels = ax.get_legend_handles_labels()
    fig.tight_layout(rect=(0, 0.08 + 0.05 * ((n - 1) // 3), 1, 1))
    fig.legend(handles, labels, loc="lower center", ncol=min(n, 3), fontsize="small", frameon=False)


# ---------------------------------------------------------------------------- entry point
def write_report(result: Mapping[str, Any], out_dir: str | Path) -> Path:
    """Write ``report.md`` and its PNG figures into ``out_dir``.

    Args:
        result: experiment result data (see the module docstring), e.g.
            ``ExperimentResult.to_dict()``.
        out_dir: folder to write into; created if missing. Existing report files are replaced.

    Returns:
        The path of ``report.md``.
    """
    if not isinstance(result, Mapping) or not isinstance(result.get("models"), Mapping):
        raise ConfigError(
            "write_report: result has no 'models' mapping; pass ExperimentResult.to_dict()"
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg = result.get("config") or {}
    name = cfg.get("name") or "experiment"
    parts = [f"# Experiment report: {name}", ""]
    if (line := provenance_line(result)) is not None:
        parts += [line, ""]
    split = result.get("split") or {}
    if split:
        parts.append("Split: " + ", ".join(f"{k} {int(v):,} events" for k, v in split.items()))
        parts.append("")
    if not result["models"]:
        parts.append("No models were run.")
    else:
        parts += ["## Models", "", _models_section(result), ""]
    for protocol in _protocols(result):
        ks = _ks(result, protocol)
        details = [_detail(e, protocol) for e in result["models"].values()]
        n_neg = next((d.get("n_negatives") for d in details if d.get("n_negatives")), None)
        if n_neg is None and protocol == "sampled":
            n_neg = (cfg.get("eval") or {}).get("n_negatives")
        alpha = next((d.get("alpha") for d in details if d.get("alpha") is not None), None)
        parts += [f"## {_protocol_title(protocol, n_neg)}", ""]
        if alpha is not None:
            parts += [
                f"Means over test rows, with {100 * (1 - float(alpha)):.0f}% percentile "
                "bootstrap intervals in brackets (resampling the rows: users, or held-out "
                "items for sampled ranking).",
                "",
            ]
        if not ks:
            parts += ["No metrics.", ""]
            continue
        parts += [_main_table(result, protocol, ks), ""]
        if recall_is_hit(_summaries(result, protocol), ks):
            parts += [SAME_RECALL_HIT_NOTE, ""]
        for k in ks:
            png = out / f"{protocol}_bars_at{k}.png"
            if _bars(result, protocol, k, png):
                parts += [f"![{protocol} ranking, NDCG@{k} and Recall@{k}]({png.name})", ""]
        if len(ks) > 1:
            png = out / f"{protocol}_curves.png"
            if _curves(result, protocol, ks, png):
                parts += [f"![{protocol} ranking, metric@k curves]({png.name})", ""]
        beyond = _beyond_table(result, protocol, ks)
        if beyond:
            parts += ["### Beyond accuracy", "", beyond, ""]
        groups = _groups_table(result, protocol, max(ks))
        if groups:
            parts += [
                f"### User groups (k = {max(ks)})",
                "",
                "Groups come from the training data. A user 'with a new item' holds out at least "
                "one item that has no training event; for full ranking their metrics still count "
                "all their held-out items, for sampled ranking the row is that item.",
                "",
                groups,
                "",
            ]
        comparisons = _comparisons_table(result, protocol)
        if comparisons:
            parts += ["### Paired comparisons", "", baseline_sentence(result, protocol)]
            parts += ["", comparisons, ""]
    path = out / "report.md"
    path.write_text("\n".join(parts).rstrip() + "\n", encoding="utf-8")
    log.info("report written to %s", path)
    return path


__all__ = ["write_report"]
