"""docs/protocol.md stays in step with the code: every field of every message model is documented.

Each model of loalang_protocol.messages has a section whose heading names it in backquotes (for
example "### `Telemetry`"); every field of the model must appear in backquotes in that section.
"""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from loalang_protocol import envelope, messages, topics
from loalang_protocol.envelope import Counter
from loalang_protocol.keys import KeyPair

pytestmark = pytest.mark.unit

DOC = Path(__file__).resolve().parents[3] / "docs" / "protocol.md"
HEADING = re.compile(r"^(#{1,6}) ")
WIRE_MODELS = sorted(
    (model for _, model in inspect.getmembers(messages, inspect.isclass)
     if issubclass(model, BaseModel) and model.__module__ == messages.__name__
     and not model.__name__.startswith("_")),
    key=lambda model: model.__name__,
)


def sections(text: str) -> list[tuple[str, str]]:
    """(heading, body) of every heading of the document, each up to the next heading of any level."""
    found: list[tuple[str, list[str]]] = []
    fenced = False
    for line in text.splitlines():
        fenced ^= line.startswith("```")
        if not fenced and HEADING.match(line):
            found.append((line, []))
        elif found:
            found[-1][1].append(line)
    return [(heading, "\n".join(body)) for heading, body in found]


def section_of(name: str) -> str:
    """The text of the sections whose heading names `name` in backquotes."""
    texts = [body for heading, body in sections(DOC.read_text()) if f"`{name}`" in heading]
    assert texts, f"docs/protocol.md has no heading naming `{name}`"
    return "\n".join(texts)


def section_of_heading(heading: str) -> str:
    """The body of the section with exactly this heading."""
    return next(body for line, body in sections(DOC.read_text()) if line == heading)


def test_the_wire_models_are_found() -> None:
    assert {messages.Telemetry, messages.DeviceStatus, messages.Reported} <= set(WIRE_MODELS)


@pytest.mark.parametrize("model", WIRE_MODELS, ids=lambda model: model.__name__)
def test_every_field_is_documented_in_its_section(model: type[BaseModel]) -> None:
    text = section_of(model.__name__)
    missing = [field for field in model.model_fields if f"`{field}`" not in text]
    assert not missing, f"the section of `{model.__name__}` in docs/protocol.md does not name {missing}"


def test_every_envelope_key_is_documented() -> None:
    sealed = envelope.seal("loa/v1/dev/d/event", {}, KeyPair.generate(), Counter(0, 1), 60)
    text = section_of_heading("## Signed envelopes")
    missing = [key for key in json.loads(sealed) if f"`{key}`" not in text]
    assert not missing, f"docs/protocol.md#signed-envelopes does not name {missing}"


def test_every_topic_is_in_the_topics_table() -> None:
    text = section_of_heading("## Topics")
    leaves = {"dev/{d}": topics.DeviceTopic, "area/{a}": topics.AreaTopic, "stream/{s}": topics.StreamTopic}
    spelled = [f"{topics.PREFIX}/{family}/{leaf.value}" for family, enum in leaves.items() for leaf in enum]
    missing = [topic for topic in spelled if f"| `{topic}` |" not in text]
    assert not missing, f"the topics table does not list {missing}"
