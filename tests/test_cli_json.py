"""`--json`: every command that prints a result prints it as one JSON document on stdout and nothing
else there, through the `rampart` entry point; an option it cannot go with is one line and exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bus import codec
from bus.recording import read_all
from bus.schema import PictureSnapshot, SourceKind
from fusion.config import FusionConfig, settings
from nodes.provision import stack_spec
from nodes.stack import summary
from tests.bus_helpers import client, unique
from tests.recordings import DATA

RAMPART = [sys.executable, "-m", "nodes.cli"]


def rampart(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*RAMPART, *args], capture_output=True, text=True, timeout=timeout, check=False)


def document(result: subprocess.CompletedProcess[str]) -> Any:
    """The one JSON document on stdout (json.loads refuses anything before or after it)."""
    return json.loads(result.stdout)


def test_sim_out_json_summarises_the_recording(tmp_path: Path) -> None:
    out = tmp_path / "smoke.rec"
    config = tmp_path / "fusion.toml"
    config.write_text("[fusion]\ntick_s = 0.1\n")
    result = rampart(
        "sim", "--scenario", "smoke", "--duration", "10", "--out", str(out), "--config", str(config), "--json"
    )
    assert result.returncode == 0, result.stderr
    _, records = read_all(out)
    assert document(result) == {
        "scenario": "smoke",
        "seed": 7,
        "duration_s": 10.0,
        "messages": len(records),
        "out": str(out),
        "fusion": settings(FusionConfig(tick_s=0.1)),
    }


def test_replay_offline_json_gives_the_core_figures(tmp_path: Path) -> None:
    out = tmp_path / "picture.jsonl"
    result = rampart("replay", str(DATA / "smoke.rec"), "--offline", "--out", str(out), "--json")
    assert result.returncode == 0, result.stderr
    summary = document(result)
    history = [codec.decode(line, codec.JSON) for line in out.read_bytes().splitlines()]
    snapshots = [message for message in history if isinstance(message, PictureSnapshot)]
    assert summary["file"] == str(DATA / "smoke.rec") and summary["out"] == str(out)
    assert summary["snapshots"] == len(snapshots) == 31
    final = snapshots[-1]
    figures = summary["figures"]
    assert figures["tracks_confirmed"] == sum(track.status == "confirmed" for track in final.tracks) >= 5
    assert figures["accepted"] > 100 and figures["late"] == 0 and summary["rejected"] == 0
    assert summary["fusion"] == final.fusion_settings == settings(FusionConfig())


def test_eval_json_is_the_report(tmp_path: Path) -> None:
    result = rampart("eval", str(DATA / "smoke.rec"), "--json")
    assert result.returncode == 0, result.stderr
    report = document(result)
    assert report["accuracy"]["frames"] == 30
    assert 0 < report["accuracy"]["mean_gospa"] < 60
    assert report["latency"] is None  # a simulator recording: fused offline, no live latency
    assert report["fusion"] == settings(FusionConfig())


def test_sim_onto_the_bus_json_gives_what_the_adapters_sent(rampart_broker) -> None:
    result = rampart(
        "sim", "--scenario", "smoke", "--duration", "3", "--speed", "10", "--broker", rampart_broker.url, "--json"
    )
    assert result.returncode == 0, result.stderr
    sent = document(result)
    assert (sent["scenario"], sent["seed"], sent["duration_s"]) == ("smoke", 7, 3.0)
    assert sent["sources"] == 5 and sent["published"] > 3 * sent["sources"]  # scans, fixes and frames for 3 s
    assert sent["dropped"] == sent["rejected"] == 0


def test_replay_onto_the_bus_json_counts_the_messages(rampart_broker) -> None:
    result = rampart("replay", str(DATA / "smoke.rec"), "--max-speed", "--broker", rampart_broker.url, "--json")
    assert result.returncode == 0, result.stderr
    _, records = read_all(DATA / "smoke.rec")
    sent = sum(record.topic.startswith(("rampart/v1/obs/", "rampart/v1/truth/")) for record in records)
    assert document(result) == {"file": str(DATA / "smoke.rec"), "messages": sent, "acknowledged": True}


def test_record_json_summarises_what_was_recorded(rampart_broker, tmp_path: Path) -> None:
    topic = f"rampart/v1/test/{unique('record')}"
    payload = b"one retained message"
    out = tmp_path / "bus.rec"
    with client(rampart_broker.url, "retainer", announce=False) as sender:
        sender.publish_raw(topic, payload, qos=1, retain=True)
        assert sender.wait_acknowledged(5)
        try:
            result = rampart(
                "record",
                "--out",
                str(out),
                "--topic",
                topic,
                "--duration",
                "1",
                "--broker",
                rampart_broker.url,
                "--json",
            )
        finally:
            sender.clear_retained(topic)
    assert result.returncode == 0, result.stderr
    summary = document(result)
    assert (summary["out"], summary["topics"], summary["messages"], summary["bytes"]) == (
        str(out),
        [topic],
        1,
        len(payload),
    )
    assert summary["seconds"] >= 1 and summary["rate"] == pytest.approx(1 / summary["seconds"])
    assert [record.payload for record in read_all(out)[1]] == [payload]


def test_health_json_gives_the_verdict_and_the_state(rampart_broker) -> None:
    with client(rampart_broker.url, "healthy", SourceKind.FUSION, role="fusion") as node:
        result = rampart("health", "--node", node.node_id, "--broker", rampart_broker.url, "--json")
    assert (result.returncode, result.stderr) == (0, "")
    verdict = document(result)
    assert verdict["node"] == node.node_id and verdict["healthy"] is True
    assert verdict["message"].startswith(f"node {node.node_id} is online (role fusion, version ")
    assert verdict["state"]["source"]["id"] == node.node_id and verdict["state"]["online"] is True
    assert 0 <= verdict["age_s"] < 20


def test_health_json_says_why_a_node_is_unhealthy_and_exits_1(rampart_broker) -> None:
    node_id = unique("absent")
    result = rampart("health", "--node", node_id, "--timeout", "1", "--broker", rampart_broker.url, "--json")
    assert (result.returncode, result.stderr) == (1, "")
    assert document(result) == {
        "node": node_id,
        "healthy": False,
        "message": f"no state from node {node_id} within 1 s",
        "age_s": None,
        "state": None,
    }


def test_provision_json_names_what_it_wrote(tmp_path: Path) -> None:
    out = tmp_path / "secrets"
    result = rampart("provision", "--out", str(out), "--scenario", "smoke", "--vehicle", "ifv-7", "--json")
    assert result.returncode == 0, result.stderr
    written = document(result)
    assert written["identities"] == [node.id for node in stack_spec("smoke", ["ifv-7"]).nodes]
    assert "ifv-7.nav" in written["identities"] and written["credentials"] == "client certificates"
    assert written["provisioned"] is True and written["ca_key"] == str(out / "ca.key")
    for key in ("broker_config", "ca_file", "ca_key"):
        assert Path(written[key]).is_file(), key
    assert {path.name for path in Path(written["identity_dir"]).iterdir()} == {
        f"{node}.{suffix}" for node in written["identities"] for suffix in ("crt", "key")
    }
    again = rampart("provision", "--out", str(out), "--scenario", "smoke", "--skip-existing", "--json")
    assert (again.returncode, document(again)) == (0, {"out": str(out), "provisioned": False})


def test_schema_json_lists_the_files_written(tmp_path: Path) -> None:
    result = rampart("schema", "--out", str(tmp_path), "--json")
    assert result.returncode == 0, result.stderr
    written = document(result)["written"]
    assert sorted(written) == sorted(str(path) for path in tmp_path.rglob("*") if path.is_file())
    assert str(tmp_path / "asyncapi.yaml") in written and str(tmp_path / "schema" / "TrackUpdate.json") in written


def test_up_summary_in_words_says_what_the_json_says() -> None:
    outcome = {
        "scenario": "smoke",
        "tracks": 6,
        "confirmed": 5,
        "by_identity": {"friendly": 2, "unknown": 4},
        "observations": 300,
        "track_updates": 900,
        "fusion_verdicts": {"accepted": 300, "late": 0},
        "processes": {"fusion": "stopped", "sim": "finished"},
        "accuracy": {"truth_frames": 14, "mean_gospa_m": 31.25, "c_m": 100.0},
        "map": None,
        "logs": "/tmp/rampart-up-x",
    }
    assert summary(outcome).splitlines() == [
        "rampart up: smoke: 6 tracks at the end (5 confirmed); 300 observations, 900 track updates",
        "processes: fusion stopped, sim finished",
        "the fusion's verdicts: 300 accepted, 0 late",
        "accuracy over 14 truth frames: mean GOSPA 31.2 m (c=100 m)",
        "logs: /tmp/rampart-up-x",
    ]


@pytest.mark.parametrize(
    ("command", "error"),
    [
        (
            ["replay", str(DATA / "smoke.rec"), "--offline", "--json"],
            "rampart replay: --json --offline needs --out FILE: without it the picture history goes to stdout",
        ),
        (
            ["replay", str(DATA / "smoke.rec"), "--loop", "--json"],
            "rampart replay: --json does not go with --loop: a loop ends only on Ctrl-C, with no summary",
        ),
        (
            ["up", "--json"],
            "rampart up: --json needs --duration: without it, up shows a live view until Ctrl-C",
        ),
    ],
)
def test_json_with_an_option_it_cannot_go_with_is_one_line_and_exit_2(command: list[str], error: str) -> None:
    result = rampart(*command)
    assert (result.returncode, result.stdout, result.stderr) == (2, "", error + "\n")


def test_no_progress_reaches_a_pipe(tmp_path: Path) -> None:
    """stderr is not a terminal here: no bar, no carriage return, only the result line."""
    result = rampart("replay", str(DATA / "smoke.rec"), "--offline", "--out", str(tmp_path / "p.jsonl"))
    assert result.returncode == 0
    assert "\r" not in result.stderr and "━" not in result.stderr
    assert result.stderr.startswith("offline: ") and result.stderr.count("\n") == 1
