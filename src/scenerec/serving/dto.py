"""What the HTTP API takes and returns: typed, bounded request and response models (their JSON
Schema is the OpenAPI document at ``/openapi.json``).

Requests reject unknown fields, NaN and infinity, ids with control characters, and anything
longer than the bounds below; those are schema errors (422) of the whole request. An event that
passes the schema can still be rejected on its own (a blank id, a timestamp in the future): the
response of ``POST /v1/events`` lists each such event with its index and the reason.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

MAX_BATCH: Final = 1_000  # events or items per request
MAX_HISTORY: Final = 500  # events of an anonymous session
MAX_K: Final = 100  # items per list
MAX_ID: Final = 256  # characters of an id
MAX_TEXT: Final = 2_000  # characters of a query or a title
MAX_DESCRIPTION: Final = 10_000
MAX_TIMESTAMP: Final = 4_102_444_800  # 2100-01-01: seconds, not milliseconds

_PRINTABLE = r"^[^\x00-\x1f\x7f]+$"


def _whole(value: object) -> object:
    """JSON Schema's integers include ``5.0``: accept a float without a fraction as an int
    (a strict int still refuses ``"5"``, ``true`` and ``5.5``)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Whole = Annotated[int, BeforeValidator(_whole)]
Id = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID, pattern=_PRINTABLE)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT)]
LongText = Annotated[str, StringConstraints(min_length=1, max_length=MAX_DESCRIPTION)]


class Request(BaseModel):
    """Base of request bodies: unknown fields, non-finite numbers and values of another JSON
    type (``false`` for a number, ``"5"`` for an integer) are refused."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True, strict=True)


class Response(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------- events
class EventIn(Request):
    """One behaviour event."""

    event_id: Id | None = Field(
        default=None, description="the client's id: an event sent twice is stored once"
    )
    user_id: Id
    item_id: Id
    scenario: Id
    behavior: Id = Field(description="view, click, cart, purchase, rate, search...")
    timestamp: Whole = Field(ge=0, le=MAX_TIMESTAMP, description="UTC seconds since 1970")
    value: float | None = Field(default=None, description="a rating, a dwell time...")
    query: Text | None = Field(default=None, description="the search text of a search event")


class EventsIn(Request):
    events: list[EventIn] = Field(min_length=1, max_length=MAX_BATCH)


class Rejected(Response):
    index: int = Field(description="position of the event in the request")
    event_id: str | None
    reason: str


class EventsOut(Response):
    accepted: int = Field(description="events stored and applied now")
    duplicates: int = Field(description="events whose event_id was already stored (not re-applied)")
    rejected: list[Rejected]
    model_version: int


# --------------------------------------------------------------------------- recommendations
class BecauseOut(Response):
    item_id: str
    scenario: str | None
    weight: float


class ExplanationOut(Response):
    source: str = Field(description="the model part that contributed most")
    contributions: dict[str, float]
    because: list[BecauseOut] = Field(description="the user's past items behind this one")


class ItemOut(Response):
    item_id: str
    score: float
    title: str | None = None
    explanation: ExplanationOut | None = None


class ModelInfo(Response):
    name: str
    version: int = Field(description="1 as loaded, +1 per fine-tuned model swapped in")
    run_id: str


class RecommendationsOut(Response):
    user_id: str | None
    scenario: str | None
    items: list[ItemOut]
    fallback: bool = Field(description="no signal for this user: popular items in the scenario")
    model: ModelInfo


class HistoryEventIn(Request):
    item_id: Id
    scenario: Id | None = None
    behavior: Id = "click"
    timestamp: Whole = Field(default=0, ge=0, le=MAX_TIMESTAMP, description="UTC seconds")


class SessionIn(Request):
    """An anonymous session: what it did so far, and optionally what it searched."""

    history: list[HistoryEventIn] = Field(default_factory=list, max_length=MAX_HISTORY)
    query: Text | None = None
    scenario: Id | None = None
    k: Whole = Field(default=10, ge=1, le=MAX_K)
    explain: bool = True


# --------------------------------------------------------------------------- items
class ItemIn(Request):
    """A catalog item: its text is encoded at once; it is recommendable at once."""

    item_id: Id
    scenario: Id | None = Field(default=None, description="where it is sold (none: everywhere)")
    title: Text | None = None
    category: Text | None = None
    brand: Text | None = None
    description: LongText | None = None


class ItemsIn(Request):
    items: list[ItemIn] = Field(min_length=1, max_length=MAX_BATCH)


class ItemsOut(Response):
    added: int
    updated: int
    model_version: int


class SimilarOut(Response):
    item_id: str
    scenario: str | None
    items: list[ItemOut]
    by: Literal["text", "co-occurrence"] = Field(
        description="text vectors, or co-occurrence for an item without text"
    )


class SearchOut(Response):
    query: str
    user_id: str | None
    scenario: str | None
    items: list[ItemOut]
    personalised: bool


class ForgetOut(Response):
    user_id: str
    forgotten: bool = Field(description="the service knew the user")
    events_deleted: int


class UserOut(Response):
    user_id: str
    events: int
    scenarios: dict[str, int]
    last_timestamp: int | None


# --------------------------------------------------------------------------- operations
class HealthOut(Response):
    status: Literal["ok"] = "ok"


class ReadyOut(Response):
    ready: bool
    model: ModelInfo
    store: str
    events_applied: int
    catalog_items: int
    index: dict[str, float | int | str]


class FieldError(Response):
    field: str
    message: str


class ErrorBody(Response):
    type: str
    message: str
    fields: list[FieldError] = Field(default_factory=list)


class ErrorOut(Response):
    error: ErrorBody


__all__ = [
    "MAX_BATCH",
    "MAX_K",
    "ErrorOut",
    "EventIn",
    "EventsIn",
    "EventsOut",
    "ForgetOut",
    "HealthOut",
    "ItemIn",
    "ItemOut",
    "ItemsIn",
    "ItemsOut",
    "ReadyOut",
    "RecommendationsOut",
    "SearchOut",
    "SessionIn",
    "SimilarOut",
    "UserOut",
]
