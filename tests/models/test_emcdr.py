"""EMCDR: warm users keep their own target factors, cold users get the learnt mapping."""

from __future__ import annotations

import numpy as np
import pytest

from scenerec.errors import ConfigError
from scenerec.models import RecQuery, UserBatch
from scenerec.models.emcdr import EMCDR, EMCDRConfig, _apply
from scenerec.testing import make_oracle

MAPPING = EMCDRConfig().train
SMALL = dict(
    factors=6, regularization=1.0, iterations=8, train=MAPPING.model_copy(update={"epochs": 40})
)


def test_mapping_trainer_recovers_a_linear_map() -> None:
    rng = np.random.default_rng(0)
    src = rng.normal(size=(400, 5)).astype(np.float32)
    M = rng.normal(size=(5, 5)).astype(np.float32)
    tgt = src @ M
    train = MAPPING.model_copy(update={"epochs": 300, "lr": 0.02, "weight_decay": 0.0})
    model = EMCDR(EMCDRConfig(mapping="linear", train=train))
    weights = model._train_mapping(src, tgt, salt=0)
    err = np.abs(_apply(weights, src) - tgt).max() / np.abs(tgt).max()
    assert err < 0.05


def test_warm_users_use_own_factors_and_cold_users_the_mapping() -> None:
    o = make_oracle()
    model = EMCDR(EMCDRConfig(**SMALL)).fit(o.train)
    a, b = model.scenario_idx(o.source), model.scenario_idx(o.target)
    assert model.fit_info["mappings"] == [f"{o.source}->{o.target}", f"{o.target}->{o.source}"]
    users_v = model.vocab("users")
    warm, cold = users_v.index(o.warm_users[0]), users_v.index(o.cold_users[0])
    assert b is not None and a is not None
    batch = UserBatch(np.array([warm, cold]), b, model.train_state)
    got, ok = model._target_factors(batch, b)
    U_a = np.asarray(model._als[a].user_factors)
    U_b = np.asarray(model._als[b].user_factors)
    np.testing.assert_allclose(got[0], U_b[warm])
    np.testing.assert_allclose(
        got[1], _apply(model.maps_[(a, b)], U_a[cold : cold + 1])[0], rtol=1e-6
    )
    assert ok.all()


def test_cold_users_get_their_cluster_in_the_target() -> None:
    o = make_oracle()
    model = EMCDR(EMCDRConfig(**SMALL)).fit(o.train)
    share = np.mean(
        [
            sum(
                i in o.relevant[u]
                for i in model.recommend(RecQuery(user_id=u, scenario=o.target), k=5).item_ids
            )
            / 5
            for u in o.cold_users
        ]
    )
    assert share >= 0.8


def test_without_enough_overlap_cold_users_get_target_popularity() -> None:
    o = make_oracle()
    model = EMCDR(EMCDRConfig(**SMALL, min_overlap=10_000)).fit(o.train)
    assert model.maps_ == {}
    r = model.recommend(RecQuery(user_id=o.cold_users[0], scenario=o.target), k=5)
    pop = model.train_state.popularity[model.scenario_idx(o.target)]
    items_v = model.vocab("items")
    got = np.array([pop[items_v.index(i)] for i in r.item_ids])
    assert np.all(got >= np.sort(pop)[::-1][4])


def test_mapping_choice_is_validated() -> None:
    with pytest.raises(ConfigError, match="mapping"):
        EMCDRConfig.from_dict({"mapping": "gbdt"})
