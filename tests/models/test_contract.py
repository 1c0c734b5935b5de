"""Every model passes the contract suite on the two-scenario oracle; the suite itself can fail."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from scenerec.errors import ConfigError
from scenerec.models import BaseRecommender, ModelConfig, TrainState, UserBatch
from scenerec.models.als import ALS, ALSConfig
from scenerec.models.cmf import CMF, CMFConfig
from scenerec.models.ease import EASE, EASEConfig
from scenerec.models.emcdr import EMCDR, EMCDRConfig
from scenerec.models.itemknn import ItemKNN, ItemKNNConfig
from scenerec.models.nn import TrainConfig
from scenerec.models.popularity import Popularity
from scenerec.schema import C, FloatMatrix, IdxArray
from scenerec.testing import (
    CHECKS,
    ContractError,
    Factory,
    OracleConfig,
    check_model,
    make_oracle,
)


def _train(**kw: Any) -> TrainConfig:
    """EMCDR's default mapping training with some fields changed."""
    return EMCDRConfig().train.model_copy(update=kw)


# Small factor models for a 144-user oracle: many factors and little regularisation memorise it.
FACTORIES: dict[str, tuple[Factory, bool]] = {
    "popularity": (Popularity, False),
    "itemknn": (lambda: ItemKNN(ItemKNNConfig(k=20)), True),
    "ease": (lambda: EASE(EASEConfig(reg=50.0)), True),
    "als": (lambda: ALS(ALSConfig(factors=8, regularization=1.0)), True),
    "cmf": (lambda: CMF(CMFConfig(factors=8, regularization=1.0)), True),
    "emcdr": (
        lambda: EMCDR(EMCDRConfig(factors=8, regularization=1.0, train=_train(epochs=50))),
        True,
    ),
}


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_model_passes_the_contract(name: str, tmp_path: Path) -> None:
    factory, personalised = FACTORIES[name]
    report = check_model(factory, tmp_path=tmp_path, personalised=personalised)
    assert {r.name for r in report.results} == set(CHECKS)


def test_popularity_does_not_solve_the_oracle(tmp_path: Path) -> None:
    # The quality bar means something only if a non-personalised ranking stays far below it.
    report = check_model(Popularity, tmp_path=tmp_path, personalised=False)
    assert report.quality["quality_warm"] < 0.5
    assert report.quality["quality_cold"] < 0.5


def test_failed_quality_is_enforced_for_personalised_models(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match="quality_warm"):
        check_model(Popularity, tmp_path=tmp_path, personalised=True, skip=["deterministic"])


def test_scenario_scoped_ease_fails_only_the_cross_scenario_checks(tmp_path: Path) -> None:
    # Users cold in the target scenario get no signal (NaN rows, then the fallback) from a
    # per-scenario EASE: every failed check says so, and none fails without cross_scenario.
    def factory() -> EASE:
        return EASE(EASEConfig(reg=50.0, scope="scenario"))

    with pytest.raises(ContractError) as err:
        check_model(factory, tmp_path=tmp_path)
    failed = {line.split(":")[0].strip(" -") for line in str(err.value).splitlines()[1:]}
    assert failed == {"quality_cold", "quality_adhoc_cold", "scores", "recommend_output"}
    check_model(factory, tmp_path=tmp_path, cross_scenario=False)


# ---------------------------------------------------------------------- broken models
class _Cfg(ModelConfig):
    pass


class _Random(BaseRecommender[_Cfg]):
    """Unseeded random scores: not deterministic, not personalised."""

    config_class = _Cfg
    name = "broken-random"

    def _fit(self, data: TrainState) -> None:
        return None

    def _score(self, users: UserBatch, items: IdxArray) -> FloatMatrix:
        return np.random.default_rng().random((len(users), len(items)), dtype=np.float32)


class _NaN(_Random):
    name = "broken-nan"

    def _score(self, users: UserBatch, items: IdxArray) -> FloatMatrix:
        out = np.zeros((len(users), len(items)), np.float32)
        out[:, 0] = np.nan
        return out


class _Forgetful(BaseRecommender[_Cfg]):
    """Learns item counts but does not save them."""

    config_class = _Cfg
    name = "broken-forgetful"

    def _fit(self, data: TrainState) -> None:
        self.counts = np.bincount(data.histories.item_idx, minlength=data.n_items)

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        self.counts = np.zeros(self.train_state.n_items)

    def _score(self, users: UserBatch, items: IdxArray) -> FloatMatrix:
        return np.tile(self.counts[items].astype(np.float32), (len(users), 1))


class _BatchMixer(_Forgetful):
    """Scores depend on who else is in the batch."""

    name = "broken-batch"

    def _score(self, users: UserBatch, items: IdxArray) -> FloatMatrix:
        base = super()._score(users, items)
        return base + np.float32(len(users)) * np.arange(len(items), dtype=np.float32)


@pytest.mark.parametrize(
    ("cls", "broken"),
    [
        (_Random, {"deterministic", "save_load"}),
        (_NaN, {"scores"}),
        (_Forgetful, {"save_load"}),
        (_BatchMixer, {"batch_consistency", "save_load"}),
    ],
)
def test_the_suite_catches_broken_models(
    cls: type[BaseRecommender[Any]], broken: set[str], tmp_path: Path
) -> None:
    report = check_model(cls, tmp_path=tmp_path, personalised=False, raise_on_failure=False)
    assert {r.name for r in report.failures} >= broken
    with pytest.raises(ContractError, match=sorted(broken)[0]):
        check_model(cls, tmp_path=tmp_path, personalised=False)


def test_skip_rejects_unknown_check_names(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no_such_check"):
        check_model(Popularity, tmp_path=tmp_path, skip=["no_such_check"])


# ---------------------------------------------------------------------- the oracle
def test_oracle_answer_is_consistent_with_its_events() -> None:
    o = make_oracle(OracleConfig(n_clusters=3, warm_users_per_cluster=5, cold_users_per_cluster=2))
    ev = o.events
    assert len(o.warm_users) == 15 and len(o.cold_users) == 6
    for user in o.cold_users:
        scen = set(ev.filter(ev[C.USER_ID] == user)[C.SCENARIO].to_list())
        assert scen == {o.source}
    for user, relevant in o.relevant.items():
        seen = set(ev.filter(ev[C.USER_ID] == user)[C.ITEM_ID].to_list())
        assert not relevant & seen
        assert relevant <= set(o.items(o.target, o.cluster_of_user[user]))
    assert o.test_events().height == sum(len(r) for r in o.relevant.values())


def test_oracle_is_deterministic_per_seed() -> None:
    a, b = make_oracle(), make_oracle()
    assert a.events.equals(b.events)
    assert not make_oracle(OracleConfig(seed=1)).events.equals(a.events)


def test_oracle_rejects_configs_with_nothing_to_find() -> None:
    with pytest.raises(ConfigError, match="seen_per_scenario"):
        make_oracle(OracleConfig(items_per_cluster=5, seen_per_scenario=5))
