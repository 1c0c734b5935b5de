"""Bad input, found by schemathesis from the service's own OpenAPI document: for generated
requests to every operation, valid ones and invalid ones, no 5xx, and every response matches
the documented status codes, content types and schemas (schemathesis' default checks)."""

from __future__ import annotations

from collections.abc import Callable

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from scenerec.serving.engine import Engine
from tests.serving.conftest import AUTH

Serve = Callable[..., tuple[TestClient, Engine]]
EXAMPLES = 20  # per operation and mode: enough to find a 500, small enough for `make test`


def test_api_conforms_to_its_schema(serve: Serve) -> None:
    client, _ = serve("itemknn")
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 11  # ten paths, two methods on /v1/users/{user_id}
    for op in operations:
        # an operation without parameters or body has no invalid request to generate
        takes_input = any(True for _ in op.iter_parameters()) or len(op.body) > 0
        modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE][: 2 if takes_input else 1]
        for mode in modes:

            @given(case=op.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def check(case: schemathesis.Case) -> None:
                case.call_and_validate(headers=AUTH)

            check()


def test_the_schema_documents_every_endpoint(serve: Serve) -> None:
    client, _ = serve("popularity")
    paths = client.get("/openapi.json").json()["paths"]
    assert set(paths) == {
        "/v1/events",
        "/v1/users/{user_id}/recommendations",
        "/v1/recommendations",
        "/v1/users/{user_id}",
        "/v1/items/{item_id}/similar",
        "/v1/items",
        "/v1/search",
        "/healthz",
        "/readyz",
        "/metrics",
    }
    events = paths["/v1/events"]["post"]
    assert events["security"] == [{"APIKeyHeader": []}]
    assert {"401", "403", "413", "422", "503"} <= set(events["responses"])
