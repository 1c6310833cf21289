"""The published contract: committed JSON Schema / AsyncAPI files are current and really validate."""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import jsonschema
import pytest
import yaml

from bus import codec, topics
from nodes import schema_docs

DOCS = Path(__file__).parents[1] / "docs"


def test_committed_documents_are_current(tmp_path: Path) -> None:
    for generated in schema_docs.write(tmp_path, version("rampart")):
        committed = DOCS / generated.relative_to(tmp_path)
        assert committed.exists(), f"{committed} is missing: run `rampart schema --out docs`"
        assert committed.read_text() == generated.read_text(), f"{committed} is stale: run `rampart schema --out docs`"


def test_asyncapi_describes_every_channel_and_resolves_every_reference() -> None:
    document = yaml.safe_load((DOCS / "asyncapi.yaml").read_text())
    assert document["asyncapi"] == "3.0.0"
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert addresses == {template for template, _ in topics.channels().values()}
    for channel in document["channels"].values():
        for message in channel["messages"].values():
            name = message["$ref"].rsplit("/", 1)[1]
            payload = document["components"]["messages"][name]["payload"]["$ref"].rsplit("/", 1)[1]
            assert payload in document["components"]["schemas"]


def test_the_documented_example_validates_against_the_published_json_schema() -> None:
    published = json.loads((DOCS / "schema" / "PositionReport.json").read_text())
    example = json.loads((DOCS / "examples" / "position-report.json").read_text())
    jsonschema.validate(example, published)
    example["position"]["lat"] = 91.2
    with pytest.raises(jsonschema.ValidationError, match=r"91\.2 is greater than the maximum of 90"):
        jsonschema.validate(example, published)


def _reading(detection: dict[str, object]) -> dict[str, object]:
    return {
        "schema": "SensorReading/1",
        "source": {"id": "radar-1", "kind": "sensor"},
        "time": "2026-11-29T12:00:00Z",
        "sensor_position": {"lat": 54.4, "lon": 10.2},
        "detections": [detection],
    }


POLAR = {"range_m": 900.0, "bearing_deg": 45.0, "sigma_range_m": 10.0, "sigma_bearing_deg": 0.5}
GEO = {"position": {"lat": 54.41, "lon": 10.21}, "covariance_enu_m2": [[25, 0, 0], [0, 25, 0], [0, 0, 100]]}


@pytest.mark.parametrize(
    ("message", "reader_error"),
    [
        (
            {**_reading({"polar": POLAR}), "schema": None},
            "schema: missing: every message names its schema, e.g. 'PositionReport/1'",
        ),
        (_reading({}), "detections.0: a detection needs exactly one of polar or geo"),
        (_reading({"polar": POLAR, "geo": GEO}), "detections.0: a detection needs exactly one of polar or geo"),
    ],
)
def test_the_published_contract_rejects_what_the_reader_rejects(message: dict[str, object], reader_error: str) -> None:
    """Every rule the reader enforces is in the JSON Schema, so another language's validator agrees."""
    message = {key: value for key, value in message.items() if value is not None}
    published = json.loads((DOCS / "schema" / "SensorReading.json").read_text())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(message, published)
    with pytest.raises(codec.DecodeError) as caught:
        codec.decode(json.dumps(message).encode())
    assert str(caught.value) == reader_error
    jsonschema.validate(_reading({"polar": POLAR}), published)
