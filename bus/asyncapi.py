"""JSON Schema for every message and an AsyncAPI 3.0 document for every channel, from the models.

Generated, never hand-edited: `rampart schema --out docs` writes `docs/schema/*.json` and
`docs/asyncapi.yaml`, and a test fails when the committed files are stale.
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic.json_schema import models_json_schema

from bus import codec, topics
from bus.schema import MESSAGE_TYPES, SCHEMA_MAJOR, Envelope

_REF = "#/components/schemas/{model}"
_CHANNEL_NOTES: dict[str, tuple[str, str, bool]] = {
    # label: (operation name, what flows and who publishes, retained)
    "obs/video": ("publishVideo", "Drone video metadata (MISB ST 0601 field set) from video adapters.", False),
    "obs/sensor": ("publishSensor", "One sensor scan per message, from sensor adapters.", False),
    "obs/position": ("publishPosition", "A platform's own position (blue force tracking).", False),
    "track": ("publishTrack", "Latest state of one fused track; an empty retained payload = dropped.", True),
    "snapshot": ("publishSnapshot", "The whole picture with its sequence number.", True),
    "node-state": ("publishNodeState", "Birth (online) and last will (offline) of every node.", True),
    "deadletter": ("publishDeadLetter", "Rejected input with the reason, keyed by the offending source.", False),
    "truth": ("publishTruth", "Simulators' ground truth, for evaluation only.", False),
}


def json_schemas() -> dict[str, dict[str, Any]]:
    """One standalone JSON Schema per message, keyed by message name."""
    return {
        model.NAME: {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://rampart.example/schema/{model.NAME}-{SCHEMA_MAJOR}.json",
            **model.model_json_schema(by_alias=True),
        }
        for model in MESSAGE_TYPES
    }


def document(version: str) -> dict[str, Any]:
    """The AsyncAPI 3.0 document describing every Rampart channel."""
    _, definitions = models_json_schema(
        [(model, "validation") for model in MESSAGE_TYPES], by_alias=True, ref_template=_REF
    )
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for label, (template, address) in topics.channels().items():
        model: type[Envelope] = codec.expected_model(address)
        operation, description, retained = _CHANNEL_NOTES[label]
        channel_id = operation.removeprefix("publish")[0].lower() + operation.removeprefix("publish")[1:]
        parameters = {
            name: {"description": f"the {name.replace('_', ' ')}: 1-64 of A-Z a-z 0-9 _ . : -"}
            for name in _placeholders(template)
        }
        channels[channel_id] = {
            "address": template,
            "description": description,
            "messages": {model.NAME: {"$ref": f"#/components/messages/{model.NAME}"}},
            **({"parameters": parameters} if parameters else {}),
        }
        operations[operation] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "bindings": {"mqtt": {"qos": 1, "retain": retained}},
        }
        messages[model.NAME] = {
            "name": model.wire_name(),
            "title": model.NAME,
            "summary": (model.__doc__ or "").strip().splitlines()[0],
            "contentType": codec.MSGPACK,
            "payload": {"$ref": _REF.format(model=model.NAME)},
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Rampart battle-space bus",
            "version": version,
            "description": (
                "Every message is msgpack (application/msgpack, the default) or JSON (application/json). "
                "JSON publishers set the MQTT 5 content-type property; without one (msgpack from Rampart's own "
                "clients, or any MQTT 3.1.1 client) the first byte decides. Times: msgpack Timestamp extension "
                "or RFC 3339 UTC. Readers ignore unknown "
                f"fields; the major version is in each message's `schema` field (/{SCHEMA_MAJOR})."
            ),
        },
        "defaultContentType": codec.MSGPACK,
        "servers": {
            "local": {"host": "127.0.0.1:1883", "protocol": "mqtt", "protocolVersion": "5"},
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": definitions["$defs"]},
    }


def to_yaml(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def _placeholders(template: str) -> list[str]:
    return [part[1:-1] for part in template.split("/") if part.startswith("{")]
