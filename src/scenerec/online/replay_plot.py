"""The replay's figure: hit@k and NDCG@k of each strategy per time window, with the adaptive
strategy's fine-tunes, drifts and the launch of a new scenario marked."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def plot_replay(result: Mapping[str, Any], path: Path, *, title: str = "replay") -> Path:
    """Write the PNG (matplotlib's object API on the Agg canvas: no display needed)."""
    from matplotlib.figure import Figure

    k = result["settings"]["k"]
    fig = Figure(figsize=(11, 4.2))
    axes = fig.subplots(1, 2)
    for ax, metric in zip(axes, (f"hit@{k}", f"ndcg@{k}"), strict=True):
        for name, summary in result["strategies"].items():
            wins = [w for w in summary["windows"] if w[metric] is not None]
            xs = [_day((w["start"] + w["end"]) / 2) for w in wins]
            ax.plot(
                xs,
                [w[metric] for w in wins],
                marker="o",
                ms=3,
                label=f"{name} ({summary[metric]:.3f})",
            )
        for tune in (result.get("adaptive") or {}).get("fine_tunes", []):
            at = tune.get("at_time")
            if at is not None:
                ax.axvline(_day(at), color="green" if tune["swapped"] else "grey", ls=":", lw=1)
        for drift in ((result.get("adaptive") or {}).get("drift") or {}).get("drifts", []):
            ax.axvline(_day(drift["timestamp"]), color="red", ls="--", lw=0.8, alpha=0.6)
        launch = result.get("launch")
        if launch:
            ax.axvline(_day(launch["first_event"]), color="black", ls="-.", lw=1)
        ax.set_title(metric)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.tick_params(axis="x", labelrotation=30)
        ax.legend(fontsize=8)
    fig.suptitle(
        f"{title}: per time window (dotted: fine-tune, green = swapped in; dashed red: drift; "
        "dash-dot: scenario launch)",
        fontsize=9,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


def _day(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC)


__all__ = ["plot_replay"]
