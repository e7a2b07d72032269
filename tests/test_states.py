"""Each list of states (articles, deliveries, endpoints), outcomes and event types is defined once
(db/states.py); the docs, the payload schema and the subscriber filter follow that list."""

from __future__ import annotations

import json
import re
from enum import StrEnum
from pathlib import Path

import pytest

from db.states import (
    ArticleState,
    CheckOutcome,
    DeliveryOutcome,
    DeliveryState,
    EndpointState,
    EventType,
)
from tracker.subscriptions import EVENT_TYPES

ROOT = Path(__file__).resolve().parents[1]


def documented(heading: str) -> list[str]:
    """The first column of the table under ``## heading`` in docs/states.md, in order."""
    text = (ROOT / "docs" / "states.md").read_text("utf-8")
    section = text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([^`]+)` \|", section, flags=re.MULTILINE)


@pytest.mark.parametrize(("heading", "enum"), [
    ("Article states", ArticleState), ("Check outcomes", CheckOutcome),
    ("Event types", EventType), ("Delivery states", DeliveryState),
    ("Delivery outcomes", DeliveryOutcome), ("Endpoint states", EndpointState),
])
def test_docs_list_each_value_once_in_the_order_of_its_enum(
    heading: str, enum: type[StrEnum]
) -> None:
    assert documented(heading) == [member.value for member in enum]


def test_payload_schema_knows_every_event_type_and_no_other() -> None:
    schema = json.loads((ROOT / "docs" / "webhook-payload.schema.json").read_text("utf-8"))
    assert sorted(schema["properties"]["type"]["enum"]) == sorted(EventType)
    described = {alt["properties"]["type"]["const"] for alt in schema["oneOf"]}
    assert described == set(EventType)


def test_subscribers_may_choose_every_event_type() -> None:
    assert set(EVENT_TYPES) == set(EventType)


def test_webhooks_page_describes_every_event_type() -> None:
    text = (ROOT / "docs" / "webhooks.md").read_text("utf-8")
    assert [t for t in EventType if f"| `{t}` |" not in text] == []
