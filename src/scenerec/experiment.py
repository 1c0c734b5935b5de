"""Experiments: dataset + cleaning + split + encoder + models + metrics, from one config.

``run_experiment`` is what ``scenerec demo`` and ``scenerec experiment`` call. It fits every model
on the train part only, evaluates on the held-out part (validation items excluded at test time),
and returns plain data that the CLI renders and ``report`` writes to disk.
"""

from __future__ import annotations

import logging
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import Field

from scenerec.config import FrozenConfig
from scenerec.data.clean import CleaningConfig, CleaningReport, clean_events
from scenerec.data.dataset import Dataset
from scenerec.data.io import read_catalog, scan_events
from scenerec.data.split import Split, SplitSpec, make_split
from scenerec.errors import ConfigError
from scenerec.eval.compare import strongest_baseline
from scenerec.eval.protocol import EvalResult, compare_models, evaluate
from scenerec.models.query import FitOptions
from scenerec.models.registry import OWN_MODELS, ModelSpec, build_model
from scenerec.models.runs import save_catalog
from scenerec.text.encoder import EncoderConfig
from scenerec.tune import TuneResult, TuneSpec, space_of, tune_model

log = logging.getLogger(__name__)


class DataSpec(FrozenConfig):
    """Where the events come from.

    Attributes:
        source: ``synthetic`` (the built-in sample platform), ``file`` (events + catalog files)
            or ``public`` (a dataset from ``scenerec datasets``, or a folder in a public format).
    """

    source: Literal["synthetic", "file", "public"] = "synthetic"
    synthetic: dict[str, Any] = Field(default_factory=dict)
    events: Path | None = None
    catalog: Path | None = None
    format: str | None = None
    mapping: dict[str, str] = Field(default_factory=dict)
    public: str | None = None
    path: Path | None = None


class EvalSpec(FrozenConfig):
    ks: tuple[int, ...] = (10,)
    protocols: tuple[Literal["full", "sampled"], ...] = ("full",)
    n_negatives: int = 999
    scenarios: tuple[str, ...] | None = None
    # False ranks the user's training items too (RecBole's sequential evaluation)
    exclude_history: bool = True


class ExperimentConfig(FrozenConfig):
    """The whole experiment in one YAML file.

    ``encoder``, when given, is the language model of every model that reads text (its
    ``text`` or ``encoder`` field), unless a model's own params set one.
    """

    name: str = "experiment"
    data: DataSpec = DataSpec()
    cleaning: CleaningConfig = CleaningConfig()
    split: SplitSpec = SplitSpec()
    encoder: EncoderConfig | None = None
    models: tuple[ModelSpec, ...] = (ModelSpec(name="popularity"),)
    eval: EvalSpec = EvalSpec()
    tune: TuneSpec = TuneSpec()


@dataclass
class ExperimentResult:
    config: ExperimentConfig
    stats: dict[str, Any]
    cleaning: dict[str, Any] | None
    split_sizes: dict[str, int]
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    comparisons: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config.to_dict(),
            "stats": self.stats,
            "cleaning": self.cleaning,
            "split": self.split_sizes,
            "models": self.models,
            "comparisons": self.comparisons,
        }


Progress = Callable[[str], None]


def load_data(
    spec: DataSpec, cleaning: CleaningConfig
) -> tuple[Dataset, CleaningReport | None, Split | None]:
    """Read and clean the configured data. Public releases may bring their own split."""
    if spec.source == "synthetic":
        from scenerec.data.synthetic import SyntheticConfig, generate

        syn = generate(SyntheticConfig.from_dict(spec.synthetic, source="data.synthetic"))
        result = clean_events(syn.events, config=cleaning, catalog=syn.catalog, file="<synthetic>")
        return Dataset(result.events, syn.catalog, name="synthetic"), result.report, None
    if spec.source == "file":
        if spec.events is None:
            raise ConfigError("data.events: a file source needs an events path")
        lf = scan_events(spec.events, format=spec.format, mapping=spec.mapping)
        cat = read_catalog(spec.catalog) if spec.catalog else None
        result = clean_events(lf, config=cleaning, catalog=cat, file=spec.events)
        return Dataset(result.events, cat, name=spec.events.stem), result.report, None
    from scenerec.data.public import load, load_path
    from scenerec.data.split import predefined

    if spec.public is not None:
        # A named release reads its fetched copy, or the local copy at `path`.
        loaded = load(spec.public, path=spec.path)
    elif spec.path is not None:
        loaded = load_path(spec.path, format=spec.format)
    else:
        raise ConfigError("data: a public source needs `public: NAME` or `path: FOLDER`")
    ds = loaded.to_dataset()
    split = None
    if loaded.predefined_split is not None:
        ps = loaded.predefined_split
        split = predefined(ps["train"], ps["test"], ps.get("valid"))
    return ds, None, split


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_experiment(
    cfg: ExperimentConfig,
    *,
    progress: Progress | None = None,
    out_dir: Path | None = None,
    options: FitOptions | None = None,
) -> ExperimentResult:
    """Run the whole experiment; see the module docstring.

    Args:
        cfg: the experiment.
        progress: called with a short message at every stage.
        out_dir: where each model's run directory is saved (``runs/<label>``); none saved when
            ``None``.
        options: how fits run (default: ``FitOptions.from_env()``).
    """
    say = progress or (lambda msg: log.info(msg))
    options = options or FitOptions.from_env()
    say("loading and cleaning data")
    ds, report, given = load_data(cfg.data, cfg.cleaning)
    split = make_split(ds, cfg.split, given)
    train = ds.subset(split.train, name=f"{ds.name}/train")
    sizes = {"train": split.train.height, "test": split.test.height}
    if split.valid is not None:
        sizes["valid"] = split.valid.height
    result = ExperimentResult(cfg, ds.stats(), report.to_dict() if report else None, sizes)
    exclude = [split.valid] if split.valid is not None else []
    evals: dict[str, dict[str, EvalResult]] = {p: {} for p in cfg.eval.protocols}
    for spec in cfg.models:
        model = build_model(spec, encoder=cfg.encoder)
        say(f"fitting {spec.display}")
        t0 = time.perf_counter()
        model.fit(train, options=options)
        fit_s = time.perf_counter() - t0
        entry: dict[str, Any] = {
            "model": spec.name,
            "config": model.config.to_dict(),
            "fit_seconds": fit_s,
            "peak_rss_mb": _peak_rss_mb(),
        }
        for proto in cfg.eval.protocols:
            say(f"evaluating {spec.display} ({proto} ranking)")
            ev = evaluate(
                model,
                split.test,
                train=train,
                ks=cfg.eval.ks,
                scenarios=cfg.eval.scenarios,
                exclude=exclude,
                exclude_history=cfg.eval.exclude_history,
                protocol=proto,
                n_negatives=cfg.eval.n_negatives,
            )
            entry[proto] = ev.summary()
            entry.setdefault("eval", {})[proto] = ev.to_dict()
            evals[proto][spec.display] = ev
        result.models[spec.display] = entry
        if out_dir is not None:
            save_catalog(model.save(out_dir / "runs" / _slug(spec.display)), ds.catalog)
    if len(cfg.models) > 1:
        metric = f"ndcg@{max(cfg.eval.ks)}"
        ours = [s.display for s in cfg.models if s.name in OWN_MODELS]
        for proto in cfg.eval.protocols:
            base = strongest_baseline(evals[proto], metric, ours=ours)
            result.comparisons.extend(compare_models(evals[proto], metric, baseline=base))
            if base is not None and _group_rows(evals[proto][base], COLD) >= MIN_PAIRED_ROWS:
                result.comparisons.extend(
                    compare_models(evals[proto], metric, baseline=base, group=COLD)
                )
    return result


# Users cold in the target get their own paired comparison when there are this many of them.
COLD: Final = "cold_in_target"
MIN_PAIRED_ROWS: Final = 30


def _group_rows(ev: EvalResult, group: str) -> int:
    return sum(int(r.rows(group).sum()) for r in ev.scenarios.values() if group in r.groups)


def train_models(
    cfg: ExperimentConfig,
    out: Path,
    *,
    holdout: bool = False,
    progress: Progress | None = None,
    options: FitOptions | None = None,
) -> dict[str, Path]:
    """Fit every configured model and save one run directory each.

    With one model the run is ``out`` itself; with several, ``out/<label>``. Each run also gets
    a copy of the catalog (``catalog.parquet``) so recommendations can be shown with titles.
    """
    say = progress or (lambda msg: log.info(msg))
    options = options or FitOptions.from_env()
    say("loading and cleaning data")
    ds, _, given = load_data(cfg.data, cfg.cleaning)
    if holdout:
        ds = ds.subset(make_split(ds, cfg.split, given).train)
    paths: dict[str, Path] = {}
    for spec in cfg.models:
        say(f"fitting {spec.display}")
        model = build_model(spec, encoder=cfg.encoder).fit(ds)
        path = out if len(cfg.models) == 1 else out / _slug(spec.display)
        save_catalog(model.save(path), ds.catalog)
        paths[spec.display] = path
    return paths


def _slug(label: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in label).strip("_")


# The sample platform's users new to a scenario: a tenth of those who do not use every scenario
# end with a first visit to one (``SyntheticConfig.newcomer_fraction``), so that a few hundred
# test users are cold in their target, enough to compare models on them.
NEWCOMERS = 0.1


def demo_config() -> ExperimentConfig:
    """The built-in sample platform, as ``make demo`` runs it: clean -> encode item text with
    the language model -> fit -> evaluate, in a few minutes on 2 cores: the baselines, then
    ScenarioFusion and the flagship (its sequence generator on a short time budget)."""
    from scenerec.models.flagship.config import default_generators

    generators = [
        g.to_dict()
        if g.model != "cross_scenario_transformer"
        else {
            **g.to_dict(),
            "params": {"train": {**g.params["train"], "epochs": 6, "max_minutes": 1.5}},
        }
        for g in default_generators()
    ]
    return ExperimentConfig(
        name="demo",
        data=DataSpec(source="synthetic", synthetic={"newcomer_fraction": NEWCOMERS}),
        split=SplitSpec(method="leave-last-out"),
        encoder=EncoderConfig(backend="sentence"),
        models=(
            ModelSpec(name="popularity", label="Popularity", params={"scope": "scenario"}),
            ModelSpec(name="itemknn", label="ItemKNN"),
            ModelSpec(name="als", label="ALS"),
            ModelSpec(name="ease", label="EASE", params={"reg": 500.0}),
            ModelSpec(name="fusion", label="ScenarioFusion"),
            ModelSpec(
                name="cross_scenario_ranker",
                label="CrossScenarioRanker",
                params={"generators": generators},
            ),
        ),
        eval=EvalSpec(ks=(10,)),
    )


def run_tuning(
    cfg: ExperimentConfig,
    *,
    trials: int | None = None,
    progress: Progress | None = None,
    options: FitOptions | None = None,
) -> list[TuneResult]:
    """Tune every configured model on the validation split (``scenerec tune``).

    The split is the experiment's own, with a validation part: leave-last-out gets
    ``valid: true``; a public release's predefined split must ship one. The test part is never
    read. Every model gets the same number of trials (``trials`` or ``cfg.tune.trials``).
    """
    say = progress or (lambda msg: log.info(msg))
    options = options or FitOptions.from_env()
    say("loading and cleaning data")
    ds, _, given = load_data(cfg.data, cfg.cleaning)
    spec = cfg.split
    if spec.method == "leave-last-out" and not spec.valid:
        spec = spec.model_copy(update={"valid": True})
    split = make_split(ds, spec, given)
    if split.valid is None or split.valid.height == 0:
        raise ConfigError(
            f"split.method {spec.method!r} gives no validation events to tune on; use "
            "leave-last-out, a ratio split with three parts, or a release that ships a valid split"
        )
    train = ds.subset(split.train, name=f"{ds.name}/train")
    budget = trials or cfg.tune.trials
    results = []
    for m in cfg.models:
        space = space_of(m, cfg.tune.spaces)
        say(f"tuning {m.display}: {budget} trials over {sorted(space)}")

        def report(n: int, value: float, _params: dict[str, Any], label: str = m.display) -> None:
            say(f"{label} trial {n + 1}/{budget}: NDCG@{cfg.tune.k} {value:.4f}")

        results.append(
            tune_model(
                m,
                train,
                split.valid,
                trials=budget,
                space=space,
                k=cfg.tune.k,
                seed=cfg.tune.seed,
                encoder=cfg.encoder,
                options=options,
                scenarios=cfg.eval.scenarios,
                on_trial=report,
            )
        )
    return results
