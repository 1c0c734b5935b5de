"""The CrossScenarioRanker's configuration: its candidate generators and its learned ranker."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from scenerec.config import FrozenConfig
from scenerec.errors import ConfigError
from scenerec.models.base import ModelConfig
from scenerec.text.encoder import EncoderConfig
from scenerec.text.templates import ItemTextTemplate

Scope = Literal["all", "target"]


class GeneratorSpec(FrozenConfig):
    """One candidate generator.

    Attributes:
        model: a registered model name (``itemknn``, ``als``, ``sasrec``...), or ``text`` for the
            language-model similarity between the user's history and item text.
        params: the model's config as plain data; for ``text``, ``items: new`` scores only
            the target's items without an event there (new items, known by their text only),
            so that some always reach the candidates, and ``match`` says how: ``interest``
            (the default: cosine with the user's interest vector) or ``nearest`` (the best
            cosine with any one item of the user's history).
        scope: ``all`` fits one model on every scenario's events (a user cold in the target is
            scored from their other scenarios); ``target`` fits one model per target scenario on
            that scenario's events only.
        candidates: how many of its best items per user enter the candidate set.
        window: score from the user's newest ``window`` events only (their short-term intent;
            ``None``: the whole history), the i-th newest weighted ``decay ** i``.
        decay: see ``window``.
        refit: after the ranker is trained, refit the generator on every training event; with
            ``False`` the model fitted without the ranker's label events is kept and only
            reads the full histories (``rebase``: right for a costly sequence model, whose
            scores come from the histories it reads).
        label: the name used in features and explanations (default ``model[scope]``;
            ``text[new]`` for the text generator over new items).
    """

    model: str
    params: dict[str, Any] = Field(default_factory=dict)
    scope: Scope = "all"
    candidates: int = Field(default=100, ge=1)
    window: int | None = Field(default=None, ge=1)
    decay: float = Field(default=0.8, gt=0, le=1)
    refit: bool = True
    label: str | None = None

    @model_validator(mode="after")
    def _check_text(self) -> GeneratorSpec:
        if self.model != "text":
            return self
        if set(self.params) - {"items", "match"}:
            raise ConfigError(
                f"the text generator takes only params.items ('all' or 'new') and params.match "
                f"('interest' or 'nearest'), got {sorted(self.params)}; remove the others"
            )
        if self.params.get("items", "all") not in ("all", "new"):
            raise ConfigError(
                f"text generator params.items is {self.params['items']!r}; use 'all' (every "
                "item of the target) or 'new' (only items without an event there)"
            )
        if self.params.get("match", "interest") not in ("interest", "nearest"):
            raise ConfigError(
                f"text generator params.match is {self.params['match']!r}; use 'interest' "
                "(cosine with the user's interest vector) or 'nearest' (best cosine with one "
                "item of their history)"
            )
        return self

    @property
    def new_items_only(self) -> bool:
        return self.model == "text" and self.params.get("items") == "new"

    @property
    def display(self) -> str:
        recent = "" if self.window is None else f",last {self.window}"
        scope = "new" if self.new_items_only else self.scope
        return self.label or f"{self.model}[{scope}{recent}]"


class RankerConfig(FrozenConfig):
    """LightGBM LambdaRank over the candidates' features (one ranker per target scenario).

    Attributes:
        n_estimators: boosting rounds at most (early stopping on held-out label users).
        learning_rate: shrinkage.
        num_leaves: leaves per tree.
        min_child_samples: least candidates in a leaf.
        subsample: share of rows per tree.
        colsample_bytree: share of features per tree.
        reg_lambda: L2 on leaf values.
        valid_share: share of label users held out for early stopping.
        early_stopping: stop after this many rounds without a better validation NDCG@50 (deeper
            than the NDCG@10 reported, so that a few hundred validation users do not stop
            training on noise).
    """

    n_estimators: int = Field(default=600, ge=1)
    learning_rate: float = Field(default=0.05, gt=0)
    num_leaves: int = Field(default=31, ge=2)
    min_child_samples: int = Field(default=50, ge=1)
    subsample: float = Field(default=0.8, gt=0, le=1)
    colsample_bytree: float = Field(default=0.8, gt=0, le=1)
    reg_lambda: float = Field(default=1.0, ge=0)
    valid_share: float = Field(default=0.15, gt=0, lt=1)
    early_stopping: int = Field(default=40, ge=1)


_KNN: dict[str, Any] = {"k": 200, "shrink": 10.0}
_CMF: dict[str, Any] = {"factors": 64, "regularization": 1.0, "alpha": 1.0, "iterations": 10}
# The sequence generator trains on a time budget: it is the costly part of the fit.
_SEQUENCE_TRAIN: dict[str, Any] = {
    "epochs": 40,
    "batch_size": 256,
    "lr": 0.004,
    "valid_users": 500,
    "patience": 3,
    "max_minutes": 5.0,
}


# How each text-reading model is switched to ids only (the id-only ablation).
_TEXT_MODELS: dict[str, dict[str, Any]] = {
    "cross_scenario_transformer": {"use_text": False, "encoder": None},
    "fusion": {"vectors": "factors", "encoder": None},
}


MIN_BUDGET_SHARE = 0.25  # the least share of its time budget a generator keeps


def _budget(g: GeneratorSpec) -> float | None:
    """The generator's training budget in minutes, or ``None`` (no budget)."""
    train = g.params.get("train")
    minutes = train.get("max_minutes") if isinstance(train, dict) else None
    return float(minutes) if minutes is not None else None


def default_generators() -> tuple[GeneratorSpec, ...]:
    """Co-occurrence within and across scenarios, a factor model, a sequence model over the
    mixed history and language-model similarity: each is strong on some data, and the ranker
    learns which to trust for which users; the same similarity over the target's items without
    an event brings new items (known by their text only) into the candidates. Three more carry
    users cold in the target (their target history empty): CMF's user factors shared by every
    scenario, EMCDR's mapping of a user's factors from their other scenarios, and
    ScenarioFusion's learned weighting of the user's per-scenario factor and text interest
    vectors (the cold rows' best baselines). New items are matched to the one past item they
    are nearest to, not to the centre of the history: among the four thousand items without an
    event in Office, the held-out validation answer was among the 20 best for 15% of users this
    way and 6% by the interest vector (``benchmarks/new_item_match.py``).
    The two that train on a time budget (the sequence model and ScenarioFusion) are fitted
    once, without the ranker's label events, and then read the full histories (``refit:
    false``): refitting them would double the costliest part of the fit for a few thousand
    events."""
    return (
        GeneratorSpec(model="itemknn", params=_KNN, scope="all", candidates=200),
        GeneratorSpec(model="itemknn", params=_KNN, scope="target", candidates=200),
        GeneratorSpec(
            model="itemknn", params={**_KNN, "binary": False}, scope="all", window=5, decay=0.7
        ),
        GeneratorSpec(
            model="als", params={"factors": 64, "regularization": 1.0}, scope="all", candidates=50
        ),
        GeneratorSpec(
            model="cross_scenario_transformer",
            params={"train": _SEQUENCE_TRAIN},
            scope="all",
            refit=False,
            label="sequence[all]",
        ),
        GeneratorSpec(model="text", scope="all", candidates=50),
        GeneratorSpec(
            model="text", params={"items": "new", "match": "nearest"}, scope="all", candidates=20
        ),
        GeneratorSpec(model="cmf", params=_CMF, scope="all", candidates=50),
        GeneratorSpec(model="emcdr", params={"factors": 32}, scope="all", candidates=50),
        GeneratorSpec(
            model="fusion",
            params={"train": {"max_minutes": 3.0}},
            scope="all",
            candidates=50,
            refit=False,
        ),
    )


class CrossScenarioRankerConfig(ModelConfig):
    """Attributes:
    generators: the candidate generators (see ``GeneratorSpec``); their scores and ranks are
        the ranker's main features.
    ranker: the learned ranker.
    encoder: the language model of the ``text`` generator, the text features and the
        generators that read text; ``None`` runs on ids only (the ``text`` generator is left
        out and every generator's own text is switched off: the id-only ablation).
    template: how catalog fields become item text.
    text_cache: keep item embeddings in the on-disk cache.
    recency: weight of each older event in the user's text interest vector (the newest counts 1,
        the one before ``recency``...): positions, not seconds, so data with only an order works.
    label_users: most users per target scenario whose last event there is held out to train the
        ranker (``None``: all that have another event left).
    cold_share: share of those users whose whole target history is held out instead, so the
        ranker also learns to serve users cold in the target from their other scenarios.
    cold_gate_users: held-out cold label users a target needs before users cold there get a
        plan of their own (ranker or best generator on them); with fewer, the target's plan.
    new_item_share: share of a target's distinct label items whose every event is held out
        while the ranker learns, so that it sees new items (known by their text only) as
        answers and learns when their text should bring them forward; ``auto``: the target's
        own rate of first-time choices (label events that were the first on their item there;
        ``scenerec.models.labels.first_choice_rate``), for catalogues where new items arrive
        steadily (on the benchmark releases it measured 0.03-0.11 and did no better than the
        default 0.1, see BENCHMARKS.md); ``0``: never (nor without item text, where a new item
        cannot be told from any other).
    new_item_pool: how many new items (without an event in the target) each label user's
        catalogue shows while the ranker learns, the user's own answer among them when it is
        one: the label-new items are shown a random few per user, so that the ranker meets as
        many new items as serving will (the catalogue's own items without an event there
        count too, and set the pool when they are more). Shown every label-new item at once,
        the ranker learns that any one of them is rarely the answer and buries the few dozen
        new items that serving offers. The default is the ``text[new]`` generator's 20
        candidates.
    repeats: whether the ranker learns to recommend items the user already has (repeat
        consumption: groceries, music played again). ``False`` (the default, as recommendations
        and evaluation leave a user's items out): a label user's every event on the held-out
        item is held out with it, and the user's own items are no candidates in training.
    encoding_from_budgets: the first fit on a catalogue encodes its item texts (minutes on a
        CPU; later fits read the embedding cache). With ``True`` that time comes out of the
        generators that train on a time budget (``params.train.max_minutes``: the sequence
        model's 5 and ScenarioFusion's 3 minutes by default), in proportion to their budgets,
        each keeping at least ``MIN_BUDGET_SHARE`` of its own, so a fit on a new catalogue
        takes about as long as later ones; ``False``: the budgets as configured.
    """

    generators: tuple[GeneratorSpec, ...] = Field(default_factory=default_generators)
    ranker: RankerConfig = RankerConfig()
    encoder: EncoderConfig | None = EncoderConfig()
    template: ItemTextTemplate = ItemTextTemplate()
    text_cache: bool = True
    recency: float = Field(default=0.9, gt=0, le=1)
    label_users: int | None = Field(default=8_000, ge=10)
    cold_share: float = Field(default=0.2, ge=0, lt=1)
    cold_gate_users: int = Field(default=100, ge=1)
    new_item_share: Annotated[float, Field(ge=0, lt=1)] | Literal["auto"] = 0.1
    new_item_pool: int = Field(default=20, ge=0)
    repeats: bool = False
    encoding_from_budgets: bool = True

    @model_validator(mode="after")
    def _check(self) -> CrossScenarioRankerConfig:
        if not self.generators:
            raise ConfigError("CrossScenarioRankerConfig.generators is empty; give at least one")
        names = [g.display for g in self.generators]
        if len(set(names)) != len(names):
            raise ConfigError(
                f"generator labels must differ (got {names}); set GeneratorSpec.label"
            )
        if all(g.model == "text" for g in self.generators) and self.encoder is None:
            raise ConfigError(
                "with encoder: null (ids only) the text generator is left out and no other "
                "generator is left; add one (e.g. itemknn)"
            )
        return self

    def within_budget(
        self, specs: tuple[GeneratorSpec, ...], encode_seconds: float
    ) -> tuple[tuple[GeneratorSpec, ...], float]:
        """``specs`` with the time-budgeted generators' budgets shrunk by ``encode_seconds``
        (see ``encoding_from_budgets``), and the share of its budget each keeps."""
        budgets = [_budget(g) for g in specs]
        total = sum(b for b in budgets if b is not None)
        if not self.encoding_from_budgets or total <= 0:
            return specs, 1.0
        share = max(MIN_BUDGET_SHARE, 1.0 - encode_seconds / 60.0 / total)
        out = []
        for g, b in zip(specs, budgets, strict=True):
            if b is not None:
                train = {**g.params["train"], "max_minutes": b * share}
                g = g.model_copy(update={"params": {**g.params, "train": train}})
            out.append(g)
        return tuple(out), share

    def effective_generators(self) -> tuple[GeneratorSpec, ...]:
        """The generators as fitted: with ``encoder: null``, the ``text`` generator left out
        and every generator's own text switched off."""
        if self.encoder is not None:
            return self.generators
        out = []
        for g in self.generators:
            if g.model == "text":
                continue
            if g.model in _TEXT_MODELS:
                g = g.model_copy(update={"params": {**g.params, **_TEXT_MODELS[g.model]}})
            out.append(g)
        return tuple(out)


__all__ = ["CrossScenarioRankerConfig", "GeneratorSpec", "RankerConfig", "default_generators"]
