"""`rampart tail TOPIC...`: every message on the given topics, one JSON document a line. A topic
without the `rampart/v1/` root gets it (`rampart tail deadletter/#`); with none, everything. Dead
letters show their reason and the original payload (base64); a message that does not decode is
printed with the decoder's reason, and an empty retained message as `"cleared": true`. Passive: it
announces no node state and republishes nothing."""

from __future__ import annotations

import argparse
import base64
import json
import sys
import threading

import paho.mqtt.client as mqtt

from bus import codec, topics
from nodes.options import add_broker_option, broker_from
from nodes.passive import passive_client


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("topics", nargs="*", metavar="TOPIC", help="MQTT topic filters (default: rampart/v1/#)")
    add_broker_option(parser)
    parser.add_argument("--id", default="tail", help="client id (default tail)")
    parser.add_argument("--count", type=int, help="stop after this many messages")
    parser.add_argument("--duration", type=float, help="stop after this many seconds (default: until Ctrl-C)")


def full_filter(topic: str) -> str:
    return topic if topic.startswith((topics.ROOT, "$")) else f"{topics.ROOT}/{topic}"


def as_json(msg: mqtt.MQTTMessage) -> str:
    line: dict[str, object] = {"topic": msg.topic, "retained": bool(msg.retain)}
    payload = bytes(msg.payload)
    if not payload:
        line["cleared"] = True
        return json.dumps(line)
    try:
        message = codec.decode_on_topic(msg.topic, payload, getattr(msg.properties, "ContentType", None))
    except codec.DecodeError as error:
        line["error"] = str(error)
        line["payload_base64"] = base64.b64encode(payload).decode()
    else:
        line["message"] = message.model_dump(mode="json", by_alias=True)
    return json.dumps(line)


def run(args: argparse.Namespace) -> int:
    client = passive_client(args.id, broker_from(args), announce=False)
    done = threading.Event()
    printed = 0
    lock = threading.Lock()

    def show(msg: mqtt.MQTTMessage) -> None:
        nonlocal printed
        with lock:
            if done.is_set():
                return
            print(as_json(msg), flush=True)
            printed += 1
            if args.count is not None and printed >= args.count:
                done.set()

    for topic in args.topics or [topics.ALL]:
        client.subscribe_raw(full_filter(topic), show)
    with client:
        done.wait(args.duration)
    sys.stdout.flush()
    return 0
