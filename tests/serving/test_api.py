"""The HTTP API in process (FastAPI's TestClient over the real engine, store and item index):
what each endpoint returns, and what it refuses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl
import pytest
from fastapi.testclient import TestClient

from scenerec.schema import C
from scenerec.serving.app import ServiceState, build_app
from scenerec.serving.auth import ApiKey
from scenerec.serving.config import ServingConfig
from scenerec.serving.engine import Engine
from tests.serving.conftest import API_KEY, AUTH, user_with_history

Serve = Callable[..., tuple[TestClient, Engine]]
T0 = 1_720_000_000  # after every training event (2024-07), before "the future"


def _event(user: str, item: str, scen: str = "web", t: int = T0, **kw: Any) -> dict[str, Any]:
    return {
        "user_id": user,
        "item_id": item,
        "scenario": scen,
        "behavior": "click",
        "timestamp": t,
        **kw,
    }


def _ids(body: dict[str, Any]) -> list[str]:
    return [i["item_id"] for i in body["items"]]


def test_events_are_idempotent_validated_and_change_the_next_recommendation(
    serve: Serve, train_events: pl.DataFrame
) -> None:
    client, engine = serve("itemknn")
    items = train_events[C.ITEM_ID].unique().sort().to_list()
    # a new user: unknown (404) until their first events
    assert client.get("/v1/users/newbie/recommendations").status_code == 404
    batch = [_event("newbie", items[0], event_id="e1"), _event("newbie", items[1], event_id="e2")]
    r = client.post("/v1/events", json={"events": batch}, headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.json() | {"rejected": []} == {
        "accepted": 2,
        "duplicates": 0,
        "rejected": [],
        "model_version": 1,
    }
    # a retry, a duplicate id inside the batch, a blank id and a timestamp decades ahead
    retry = [
        batch[0],
        _event("newbie", items[2], event_id="e3"),
        _event("newbie", items[3], event_id="e3"),
        _event(" ", items[2]),
        _event("newbie", items[2], t=T0 + 10**9),
    ]
    r = client.post("/v1/events", json={"events": retry}, headers=AUTH).json()
    assert (r["accepted"], r["duplicates"]) == (1, 2)
    reasons = {x["index"]: x["reason"] for x in r["rejected"]}
    assert set(reasons) == {3, 4}
    assert "user_id is blank" in reasons[3] and "future" in reasons[4]
    assert engine.store.count() == 3 and engine.store.event_ids() == {"e1", "e2", "e3"}
    # the user is known now, with exactly the events stored
    summary = client.get("/v1/users/newbie").json()
    assert summary["events"] == 3 and summary["scenarios"] == {"web": 3}
    rec = client.get("/v1/users/newbie/recommendations", params={"scenario": "web", "k": 5})
    body = rec.json()
    assert rec.status_code == 200 and not body["fallback"]
    assert body["model"] == {"name": "itemknn", "version": 1, "run_id": engine.run_id}
    assert not set(_ids(body)) & set(items[:3])  # seen items are not recommended
    first = body["items"][0]
    assert first["explanation"]["because"], "the reasons name the user's past items"
    assert {b["item_id"] for b in first["explanation"]["because"]} <= set(items[:3])


def test_recommendations_unknowns_and_fallbacks(serve: Serve, train_events: pl.DataFrame) -> None:
    client, _ = serve("popularity")
    user = user_with_history(train_events, "app")
    ok = client.get(f"/v1/users/{user}/recommendations", params={"scenario": "app", "k": 3})
    assert ok.status_code == 200 and len(ok.json()["items"]) == 3
    assert client.get("/v1/users/nobody/recommendations").json()["error"]["type"] == (
        "UnknownEntityError"
    )
    fb = client.get("/v1/users/nobody/recommendations", params={"fallback": True, "k": 4})
    assert fb.status_code == 200 and fb.json()["fallback"] and len(fb.json()["items"]) == 4
    r = client.get(f"/v1/users/{user}/recommendations", params={"scenario": "moon"})
    assert r.status_code == 404 and "scenario" in r.json()["error"]["message"]
    assert client.get("/v1/items/nope/similar").status_code == 404
    assert client.get("/v1/users/nobody").status_code == 404
    assert client.get("/v1/search", params={"q": "camera", "user_id": "nobody"}).status_code == 404


def test_sessions_similar_items_search_and_new_items(
    serve: Serve, train_events: pl.DataFrame
) -> None:
    client, engine = serve("itemknn")
    items = train_events[C.ITEM_ID].unique().sort().to_list()
    session = {"history": [{"item_id": items[5], "scenario": "web"}], "scenario": "web", "k": 5}
    r = client.post("/v1/recommendations", json=session).json()
    assert len(r["items"]) == 5 and not r["fallback"] and items[5] not in _ids(r)
    # similar items by text; an item without text by co-occurrence
    with_text = next(i for i in items if engine.items.has_text(engine._labels([i])[0]))
    sim = client.get(f"/v1/items/{with_text}/similar", params={"k": 5}).json()
    assert sim["by"] == "text" and len(sim["items"]) == 5 and with_text not in _ids(sim)
    no_text = [i for i in items if not engine.items.has_text(engine._labels([i])[0])]
    if no_text:
        co = client.get(f"/v1/items/{no_text[0]}/similar").json()
        assert co["by"] == "co-occurrence" and no_text[0] not in _ids(co)
    # a new item with text: searchable and recommendable at once, durably stored
    new = {
        "item_id": "zz-new",
        "title": "Glacier ultralight titanium camping stove",
        "category": "Outdoors > camping",
    }
    r = client.post("/v1/items", json={"items": [new]}, headers=AUTH)
    assert r.status_code == 200 and r.json()["added"] == 1
    hits = client.get("/v1/search", params={"q": "titanium camping stove", "k": 3}).json()
    assert _ids(hits)[0] == "zz-new" and hits["items"][0]["title"] == new["title"]
    found = client.post(
        "/v1/recommendations", json={"query": "titanium camping stove", "k": 3}
    ).json()
    assert "zz-new" in _ids(found)
    r = client.post("/v1/items", json={"items": [new | {"title": "Renamed stove"}]}, headers=AUTH)
    assert r.json()["updated"] == 1 and engine.items.titles["zz-new"] == "Renamed stove"
    # personalised search
    user = user_with_history(train_events, "web")
    personal = client.get("/v1/search", params={"q": "outdoor gear", "user_id": user}).json()
    assert personal["personalised"] and len(personal["items"]) == 10


def test_forgetting_a_user_removes_them_everywhere_and_survives_a_restart(
    serve: Serve, train_events: pl.DataFrame, tmp_path: Any
) -> None:
    store = f"sqlite://{tmp_path / 'forget.db'}"
    client, engine = serve("als", store)
    trained = user_with_history(train_events, "web")
    item = train_events[C.ITEM_ID][0]
    client.post("/v1/events", json={"events": [_event(trained, item, event_id="f1")]}, headers=AUTH)
    client.post("/v1/events", json={"events": [_event("other", item, event_id="f2")]}, headers=AUTH)
    assert client.delete(f"/v1/users/{trained}").status_code == 401  # writes need the key
    r = client.delete(f"/v1/users/{trained}", headers=AUTH).json()
    assert r == {"user_id": trained, "forgotten": True, "events_deleted": 1}
    for path in (f"/v1/users/{trained}", f"/v1/users/{trained}/recommendations"):
        assert client.get(path).status_code == 404
    assert client.get("/v1/search", params={"q": "x", "user_id": trained}).status_code == 404
    assert engine.store.event_ids() == {"f2"}
    engine.close()
    # a restart rebuilds the state without the user (their training events stay gone too)
    client2, _ = serve("als", store)
    assert client2.get(f"/v1/users/{trained}").status_code == 404
    assert client2.get("/v1/users/other").json()["events"] == 1
    again = client2.delete(f"/v1/users/{trained}", headers=AUTH).json()
    assert again == {"user_id": trained, "forgotten": False, "events_deleted": 0}


def test_a_restart_rebuilds_the_same_state_from_the_run_and_the_store(
    serve: Serve, train_events: pl.DataFrame, tmp_path: Any
) -> None:
    store = f"sqlite://{tmp_path / 'restart.db'}"
    client, engine = serve("als", store)
    items = train_events[C.ITEM_ID].unique().sort().to_list()
    users = ["r1", "r2", user_with_history(train_events, "app")]
    t = T0
    for n in range(6):
        batch = [
            _event(u, items[(7 * n + j) % len(items)], "app", t + n) for j, u in enumerate(users)
        ]
        client.post("/v1/events", json={"events": batch}, headers=AUTH)
        if n == 2:
            client.post(
                "/v1/items", json={"items": [{"item_id": "late", "title": "Late"}]}, headers=AUTH
            )
    before = {
        u: client.get(f"/v1/users/{u}/recommendations", params={"scenario": "app"}).json()
        for u in users
    }
    engine.close()
    client2, _ = serve("als", store)
    for u in users:
        after = client2.get(f"/v1/users/{u}/recommendations", params={"scenario": "app"}).json()
        assert _ids(after) == _ids(before[u])
        assert [i["score"] for i in after["items"]] == pytest.approx(
            [i["score"] for i in before[u]["items"]], rel=1e-5
        )


def test_auth_limits_and_errors_without_tracebacks(serve: Serve) -> None:
    client, engine = serve("popularity", config=ServingConfig(max_body_bytes=4096))
    one = {"events": [_event("a", "i0001")]}
    assert client.post("/v1/events", json=one).status_code == 401
    r = client.post("/v1/events", json=one, headers={"X-API-Key": "wrong-key-0123456789"})
    assert r.status_code == 403 and r.json()["error"]["type"] == "ForbiddenError"
    bearer = {"Authorization": f"Bearer {API_KEY}"}
    assert client.post("/v1/events", json=one, headers=bearer).status_code == 200
    big = {"events": [_event("a", "i0001", query="x" * 1500) for _ in range(5)]}
    r = client.post("/v1/events", json=big, headers=AUTH)
    assert r.status_code == 413 and r.json()["error"]["type"] == "TooLargeError"
    for bad in (
        {"events": [_event("a", "i1") | {"colour": "red"}]},  # unknown field
        {"events": []},  # empty batch
        {"events": [_event("a\n", "i1")]},  # control character in an id
        {"events": [_event("a", "i1", t=-5)]},
    ):
        r = client.post("/v1/events", json=bad, headers=AUTH)
        assert r.status_code == 422 and r.json()["error"]["fields"], bad
    r = client.post("/v1/events", content=b'{"events": [NaN]', headers=AUTH)
    assert r.status_code == 422
    r = client.get("/v1/users/a/recommendations", params={"k": 0})
    assert r.status_code == 422

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internals")

    engine.recommend = broken  # type: ignore[method-assign]
    r = client.get("/v1/users/a/recommendations")
    assert r.status_code == 500 and "reference" in r.json()["error"]["message"]
    assert "secret" not in r.text and "Traceback" not in r.text
    # no CORS unless configured
    pre = client.options(
        "/v1/events",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in pre.headers


def test_reads_can_require_the_key_and_cors_can_be_enabled(serve: Serve) -> None:
    cfg = ServingConfig(auth_reads=True, cors_origins=("https://shop.example",))
    client, _ = serve("popularity", config=cfg)
    assert client.get("/v1/users/x/recommendations", params={"fallback": True}).status_code == 401
    r = client.get("/v1/users/x/recommendations", params={"fallback": True}, headers=AUTH)
    assert r.status_code == 200
    r = client.get("/healthz", headers={"Origin": "https://shop.example"})
    assert r.headers["access-control-allow-origin"] == "https://shop.example"


def test_health_readiness_and_metrics(serve: Serve) -> None:
    client, _ = serve("popularity")
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["ready"] and ready["model"]["name"] == "popularity"
    assert ready["index"]["kind"] == "exact" and ready["store"].startswith("sqlite:///")
    client.post("/v1/events", json={"events": [_event("m", "i0001")]}, headers=AUTH)
    client.get("/v1/users/m/recommendations")
    text = client.get("/metrics").text
    assert "scenerec_events_stored_total 1.0" in text
    assert 'scenerec_model_version{model="popularity"' in text
    assert 'route="/v1/users/{user_id}/recommendations",status="200"' in text
    assert "scenerec_http_request_duration_seconds_bucket" in text
    # not ready yet: 503 on the API, 200 on the liveness probe
    waiting = TestClient(build_app(ServiceState(), ApiKey(API_KEY), ServingConfig()))
    assert waiting.get("/readyz").status_code == 503
    assert waiting.get("/v1/users/m/recommendations").status_code == 503
    assert waiting.get("/healthz").status_code == 200


def test_a_model_that_does_not_learn_online_is_served_from_histories(
    serve: Serve, train_events: pl.DataFrame
) -> None:
    client, _ = serve("bpr")
    user = user_with_history(train_events, "web")
    items = train_events[C.ITEM_ID].unique().sort().to_list()
    before = client.get(f"/v1/users/{user}", params={}).json()["events"]
    client.post("/v1/events", json={"events": [_event(user, items[0])]}, headers=AUTH)
    assert client.get(f"/v1/users/{user}").json()["events"] == before + 1
    r = client.get(f"/v1/users/{user}/recommendations", params={"scenario": "web"}).json()
    assert r["model"]["name"] == "bpr" and items[0] not in _ids(r)
    r = client.post("/v1/items", json={"items": [{"item_id": "n", "title": "t"}]}, headers=AUTH)
    assert r.status_code == 409 and "does not learn online" in r.json()["error"]["message"]
    assert client.delete(f"/v1/users/{user}", headers=AUTH).json()["forgotten"]
    assert client.get(f"/v1/users/{user}/recommendations").status_code == 404
