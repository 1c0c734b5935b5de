"""CrossScenarioTransformer: contract, text-only new items, items without text, options."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from scenerec.data.dataset import Dataset
from scenerec.models import FitOptions, RecQuery
from scenerec.models.nn import TrainConfig
from scenerec.models.transformer import (
    CrossScenarioTransformer,
    CrossScenarioTransformerConfig,
)
from scenerec.schema import C
from scenerec.testing.contract import check_model
from scenerec.text import EncoderConfig, encode_items, make_encoder

_TOPICS = {
    "coffee": ["espresso", "roast", "arabica", "brew", "bean", "crema", "barista"],
    "hiking": ["trail", "alpine", "summit", "rugged", "trek", "waterproof", "ridge"],
    "baking": ["flour", "dough", "oven", "yeast", "pastry", "whisk", "sourdough"],
    "garden": ["seed", "soil", "bloom", "compost", "shovel", "hose", "orchard"],
}
_NOUNS = ["kit", "set", "pack", "box", "bundle", "case"]
_HASHING = EncoderConfig(backend="hashing")


# Tiny models gain nothing from threads, and on a busy 2-core machine spinning threads make
# each step many times slower.
ONE = FitOptions(threads=1)


def _shop(seed: int = 0, *, no_text: frozenset[str] = frozenset()) -> Dataset:
    """Two scenarios (app, web), four topics with six items each per scenario; items of a
    topic share title words. Every user loves one topic in both scenarios (plus one noise
    event per scenario). ``web-hiking-new`` is a web item with a hiking title and no events.
    Items listed in ``no_text`` have no title."""
    rng = np.random.default_rng(seed)
    catalog, events, items = [], [], {}
    for s in ("app", "web"):
        for t, words in _TOPICS.items():
            for j in range(6):
                iid = f"{s}-{t}-{j}"
                w = rng.choice(words, size=3, replace=False)
                title = None if iid in no_text else f"{w[0]} {w[1]} {w[2]} {rng.choice(_NOUNS)}"
                catalog.append((iid, title, s))
                items.setdefault((s, t), []).append(iid)
    w = _TOPICS["hiking"]
    catalog.append(("web-hiking-new", f"{w[0]} {w[2]} {w[4]} {w[6]} bundle", "web"))
    topics = list(_TOPICS)
    for k, t in enumerate(topics):
        for n in range(12):
            evs = []
            for s, count in (("app", 4), ("web", 3)):
                evs += [(i, s) for i in rng.choice(items[(s, t)], size=count, replace=False)]
                evs.append((str(rng.choice(items[(s, topics[(k + 1 + n) % 4])])), s))
            for ts, o in enumerate(rng.permutation(len(evs))):
                events.append((f"u-{t}-{n}", evs[o][0], evs[o][1], "click", 1_000 + 60 * ts))
    ev_schema = [C.USER_ID, C.ITEM_ID, C.SCENARIO, C.BEHAVIOR, C.TIMESTAMP]
    cat_schema = {C.ITEM_ID: pl.String, C.TITLE: pl.String, C.SCENARIO: pl.String}
    return Dataset(
        pl.DataFrame(events, schema=ev_schema, orient="row"),
        pl.DataFrame(catalog, schema=cat_schema, orient="row"),
    )


def _config(**kw: object) -> CrossScenarioTransformerConfig:
    train = TrainConfig(epochs=kw.pop("epochs", 30), batch_size=16, lr=kw.pop("lr", 3e-3))  # type: ignore[arg-type]
    # 49 items cannot estimate 512 text directions: whiten little (mostly centre) here.
    base: dict[str, object] = dict(
        dim=32, layers=1, heads=2, max_len=20, id_dropout=0.5, whiten_shrinkage=10.0, encoder=None
    )
    base["train"] = train
    base.update(kw)
    return CrossScenarioTransformerConfig(**base)  # type: ignore[arg-type]


def _fit_with_text(ds: Dataset, cfg: CrossScenarioTransformerConfig) -> CrossScenarioTransformer:
    emb = encode_items(ds, make_encoder(_HASHING, cache=False))
    return CrossScenarioTransformer(cfg).set_item_embeddings(emb).fit(ds, options=ONE)


def test_contract_with_ids_only(tmp_path: Path) -> None:
    # The oracle has no catalogue: every item falls back to its id embedding.
    cfg = _config(epochs=8, encoder=None)
    check_model(lambda: CrossScenarioTransformer(cfg), tmp_path=tmp_path, options=ONE)


@pytest.mark.parametrize("use_text", [True, False])
def test_id_embeddings_start_neutral_with_text_and_distinct_without(use_text: bool) -> None:
    """Zero id vectors for items without text would make them indistinguishable at the start
    (an id-only model then barely trains); with text the id is a residual and starts at 0."""
    import torch

    from scenerec.models.transformer.net import TransformerNet

    cfg = _config(use_text=use_text)
    has_text = torch.tensor([True, False, True, False]) & use_text
    n = len(has_text)
    net = TransformerNet(
        cfg,
        n,
        1,
        1,
        torch.zeros(n, cfg.whiten_dim),
        has_text,
        torch.ones(n, dtype=torch.bool),
        torch.zeros(n, dtype=torch.long),
    )
    w = net.ids.weight.detach()
    assert (w[has_text] == 0).all()
    without = w[~has_text]
    assert len(without) == (2 if use_text else 4)
    assert (without.abs().sum(dim=1) > 0).all()
    assert torch.linalg.matrix_rank(without) == len(without)  # pairwise distinct directions


def test_recommends_a_text_only_new_item_to_users_interested_in_its_topic() -> None:
    ds = _shop()
    m = _fit_with_text(ds, _config())
    assert m.fit_info["items_with_events"] == ds.n_items - 1
    users = ds.user_vocab.to_list()
    got = {
        u: "web-hiking-new" in m.recommend(RecQuery(user_id=u, scenario="web"), k=5).item_ids
        for u in users
    }
    hikers = [u for u in users if "-hiking-" in u]
    others = [u for u in users if "-hiking-" not in u]
    # Hikers have 3 unseen hiking items in web, so a top 5 has room for the new one.
    assert np.mean([got[u] for u in hikers]) >= 0.75
    assert np.mean([got[u] for u in others]) <= 0.25


def _topic_share(m: CrossScenarioTransformer, users: list[str], k: int = 3) -> float:
    """Mean share of each user's top k in web that belongs to the user's topic."""
    shares = []
    for u in users:
        top = m.recommend(RecQuery(user_id=u, scenario="web"), k=k).item_ids
        shares.append(np.mean([f"-{u.split('-')[1]}-" in i for i in top]))
    return float(np.mean(shares))


def test_items_without_text_are_recommended_through_their_ids() -> None:
    no_text = frozenset(f"web-garden-{j}" for j in range(6))
    ds = _shop(no_text=no_text)
    m = _fit_with_text(ds, _config())
    assert m.fit_info["items_with_text"] == ds.n_items - len(no_text)
    users = ds.user_vocab.to_list()
    gardeners = [u for u in users if "-garden-" in u]
    others = [u for u in users if "-garden-" not in u]
    # Each user has 3 unseen items of their topic among 21 unseen web items (chance: 1/7).
    garden = _topic_share(m, gardeners)
    assert garden >= 0.35
    assert garden >= 0.6 * _topic_share(m, others)  # about as well as items with text


def test_users_without_history_in_the_target_scenario_get_their_topic() -> None:
    ds = _shop()
    cold = [f"u-{t}-{n}" for t in ("baking", "coffee") for n in range(6)]
    in_web = pl.col(C.SCENARIO) == "web"
    train = ds.subset(ds.events.filter(~(pl.col(C.USER_ID).is_in(cold) & in_web)))
    m = _fit_with_text(train, _config())
    # From their app events alone; 6 unseen topic items among 24 web items (chance: 1/4).
    assert _topic_share(m, cold) >= 0.6


def test_options_train_save_and_reload(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # STAR adapters, sampled softmax (popularity-drawn negatives) and encoding the catalogue
    # inside fit (hashing backend, cached under a temporary directory).
    monkeypatch.setenv("SCENEREC_CACHE_DIR", str(tmp_path / "cache"))
    cfg = _config(
        epochs=5,
        scenario_adapters=True,
        softmax_max_items=10,
        n_negatives=8,
        negative_power=0.5,
        encoder=_HASHING,
    )
    ds = _shop()
    m = CrossScenarioTransformer(cfg).fit(ds, options=ONE)
    assert m.fit_info["items_with_text"] == ds.n_items
    m.save(tmp_path / "run")
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["extra"]["encoder_fingerprint"].startswith("hashing")
    loaded = CrossScenarioTransformer.load(tmp_path / "run")
    users = np.arange(ds.n_users)
    assert np.array_equal(
        loaded.score_users(users, scenario="web"), m.score_users(users, scenario="web")
    )


def test_learns_online_from_events_and_new_items_without_reading_every_event(
    tmp_path: Path,
) -> None:
    """An event changes the user's next recommendation through their own recent window (the
    stored events are not merged: ``recent`` still holds it), a new user is served from their
    first event, and a new item with text is recommendable at once and survives save/load."""
    from scenerec.models import OnlineRecommender

    ds = _shop()
    m = _fit_with_text(ds, _config(encoder=_HASHING))
    assert isinstance(m, OnlineRecommender)
    user = "u-coffee-0"
    baking = [f"app-baking-{j}" for j in range(6)]

    def share(u: str, topic: str) -> float:
        top = m.recommend(RecQuery(user_id=u, scenario="web"), k=3).item_ids
        return float(np.mean([f"-{topic}-" in i for i in top]))

    before = share(user, "baking")
    t = 10_000_000
    events = pl.DataFrame(
        {
            C.USER_ID: [user] * 6 + ["newbie"] * 3,
            C.ITEM_ID: baking + baking[:3],
            C.SCENARIO: "app",
            C.BEHAVIOR: "click",
            C.TIMESTAMP: list(range(t, t + 9)),
        }
    )
    m.partial_fit(events)
    assert share(user, "baking") > before
    assert len(m.train_state.recent) == 9  # read from the users' windows, nothing merged
    newbie = m.recommend(RecQuery(user_id="newbie", scenario="web"), k=3)
    assert not newbie.fallback and np.mean(["-baking-" in i for i in newbie.item_ids]) >= 2 / 3

    w = _TOPICS["baking"]
    fresh = pl.DataFrame(
        {C.ITEM_ID: ["web-baking-fresh"], C.TITLE: [f"{w[0]} {w[1]} {w[3]} {w[5]} kit"]},
    ).with_columns(pl.lit("web").alias(C.SCENARIO))
    m.add_items(fresh)
    web = m.recommend(RecQuery(user_id="newbie", scenario="web"), k=ds.n_items)
    assert web.item_ids.index("web-baking-fresh") < 8  # of 25 web items, from its text alone
    # a scenario launched after the fit: served from the user's other scenarios
    kiosk = fresh.with_columns(
        pl.lit("kiosk").alias(C.SCENARIO), pl.lit("kiosk-1").alias(C.ITEM_ID)
    )
    m.add_items(pl.concat([kiosk, kiosk.with_columns(pl.lit("kiosk-2").alias(C.ITEM_ID))]))
    m.partial_fit(
        events.head(1).with_columns(
            pl.lit("kiosk").alias(C.SCENARIO), pl.lit("kiosk-2").alias(C.ITEM_ID)
        )
    )
    assert len(m.recommend(RecQuery(user_id="newbie", scenario="kiosk"), k=2).item_ids) == 2
    m.save(tmp_path / "run")
    again = CrossScenarioTransformer.load(tmp_path / "run")
    assert again.recommend(RecQuery(user_id="newbie", scenario="web"), k=8).item_ids == (
        m.recommend(RecQuery(user_id="newbie", scenario="web"), k=8).item_ids
    )
