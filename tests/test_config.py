"""One settings file for every command that fuses: `--config PATH`, a TOML `[fusion]` table read into
`FusionConfig`, the only place a tracker setting has a default."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from bus import topics
from bus.recording import open_recording
from bus.schema import PictureSnapshot
from fusion.config import ConfigError, FusionConfig, from_settings, load_config, settings
from nodes.cli import main
from tests.bus_helpers import Collector, client
from tests.recordings import DATA

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "fusion.toml"
KNOWN = ", ".join(field.name for field in dataclasses.fields(FusionConfig))
TUNED = "[fusion]\ntick_s = 0.1\nhorizon_s = 4.0\nconfirm_m = 2\norigin = { lat = 54.43, lon = 10.21 }\n"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "fusion.toml"
    path.write_text(text)
    return path


def rampart(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_example_file_holds_every_setting_at_its_default() -> None:
    assert load_config(EXAMPLE) == FusionConfig()
    documented = set(tomllib.loads(EXAMPLE.read_text())["fusion"])
    assert documented == {name for name in settings(FusionConfig())} - {"origin"}  # origin: commented out


def test_settings_round_trip_as_a_plain_dict(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, TUNED))
    assert (config.tick_s, config.horizon_s, config.confirm_m) == (0.1, 4.0, 2)
    assert from_settings(settings(config)) == config
    assert from_settings(settings(FusionConfig())) == FusionConfig()


# Each failure: exit code 2 and exactly one line naming the file and the key, from every command.
COMMANDS = {
    "fusion": ["fusion"],
    "up": ["up", "--duration", "1"],
    "eval": ["eval", str(DATA / "smoke.rec")],
    "replay": ["replay", str(DATA / "smoke.rec"), "--offline"],
    "sim": ["sim", "--duration", "1", "--out", "never-written.rec"],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_an_unknown_key_is_refused_with_its_name_and_the_file(tmp_path, capsys, command: str) -> None:
    path = write(tmp_path, "[fusion]\ntick = 0.1\n")
    code, out, err = rampart(capsys, *COMMANDS[command], "--config", str(path))
    assert code == 2
    assert err == f"rampart {command}: {path}: fusion.tick: unknown key (known: {KNOWN})\n"
    assert out == ""


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('[fusion]\ntick_s = "fast"\n', "fusion.tick_s: expected a number, got 'fast'"),
        ("[fusion]\nconfirm_n = 5.0\n", "fusion.confirm_n: expected an integer, got 5.0"),
        ("[fusion]\ngate_probability = true\n", "fusion.gate_probability: expected a number, got True"),
        ("[fusion]\ntick_s = 0\n", "fusion.tick_s: 0.0 is not positive"),
        ("[fusion]\nhorizon_s = -0.1\n", "fusion.horizon_s: -0.1 is negative"),
        ("[fusion]\ndisposition_within_s = 0\n", "fusion.disposition_within_s: 0.0 is not positive"),
        ("[fusion]\ndelete_after_s = nan\n", "fusion.delete_after_s: nan is not a finite number"),
        ("[fusion]\nconfirm_m = 6\n", "fusion.confirm_m: 6 is more than confirm_n (5)"),
        (
            "[fusion]\nmin_initial_speed_sigma_mps = 50\n",
            "fusion.min_initial_speed_sigma_mps: 50.0 is not in (0, initial_speed_sigma_mps = 40.0]",
        ),
        (
            "[fusion]\nmin_initial_speed_sigma_mps = 0\n",
            "fusion.min_initial_speed_sigma_mps: 0.0 is not in (0, initial_speed_sigma_mps = 40.0]",
        ),
        ("[fusion]\norigin = { lat = 95.0, lon = 10.0 }\n", "fusion.origin.lat: 95.0 is not in [-90, 90]"),
        ("[fusion]\norigin = { lon = 10.0 }\n", "fusion.origin.lat: missing"),
        ("[tracker]\ntick_s = 0.1\n", "tracker: unknown key (the file holds one table, [fusion])"),
        ("fusion = 1\n", "fusion: expected a table, got 1"),
    ],
)
def test_a_bad_value_is_refused_with_its_key_and_reason(tmp_path, capsys, text: str, error: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert str(raised.value) == f"{path}: {error}"
    code, _, err = rampart(capsys, "fusion", "--config", str(path))
    assert (code, err) == (2, f"rampart fusion: {path}: {error}\n")


def test_a_file_that_is_not_toml_or_not_there(tmp_path, capsys) -> None:
    broken = write(tmp_path, "[fusion\n")
    code, _, err = rampart(capsys, "eval", str(DATA / "smoke.rec"), "--config", str(broken))
    assert code == 2
    assert err.startswith(f"rampart eval: {broken}: not valid TOML (")
    missing = tmp_path / "missing.toml"
    code, _, err = rampart(capsys, "eval", str(DATA / "smoke.rec"), "--config", str(missing))
    assert (code, err) == (2, f"rampart eval: {missing}: No such file or directory\n")


def test_fusion_and_eval_with_the_same_file_run_the_same_settings(rampart_own_broker, tmp_path, capsys) -> None:
    path = write(tmp_path, TUNED)
    expected = settings(load_config(path))
    snapshots = Collector()
    with client(rampart_own_broker.url, "watch") as watcher:
        watcher.subscribe(topics.snapshot(), snapshots)
        fusion = subprocess.Popen(
            [sys.executable, "-m", "nodes.cli", "fusion", "--broker", rampart_own_broker.url, "--config", str(path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            published = snapshots.wait_for(lambda messages: len(messages) > 0, timeout_s=20.0)
        finally:
            fusion.terminate()
            _, log = fusion.communicate(timeout=10)
    assert published, log
    live = snapshots.messages[0]
    assert isinstance(live, PictureSnapshot)
    assert live.fusion_settings == expected

    code, out, _ = rampart(capsys, "eval", str(DATA / "smoke.rec"), "--config", str(path), "--json")
    assert code == 0
    assert json.loads(out)["fusion"] == expected
    code, out, _ = rampart(capsys, "eval", str(DATA / "smoke.rec"))
    assert code == 0
    assert out.splitlines()[0] == "fusion settings: " + ", ".join(
        f"{key} {value}" for key, value in settings(FusionConfig()).items()
    )


def test_a_simulator_recording_carries_the_settings_to_replay_and_eval(tmp_path, capsys) -> None:
    path = write(tmp_path, TUNED)
    expected = settings(load_config(path))
    recording = tmp_path / "smoke.rec"
    code, _, err = rampart(capsys, "sim", "--duration", "10", "--out", str(recording), "--config", str(path))
    assert code == 0, err
    assert open_recording(recording).header.recorded["fusion"] == expected

    code, out, _ = rampart(capsys, "eval", str(recording), "--json")  # no --config: the recording's
    assert (code, json.loads(out)["fusion"]) == (0, expected)
    history = tmp_path / "picture.jsonl"
    code, _, _ = rampart(capsys, "replay", str(recording), "--offline", "--out", str(history))
    assert code == 0
    assert json.loads(history.read_text().splitlines()[0])["fusion_settings"] == expected
    code, out, _ = rampart(capsys, "eval", str(history), "--json")  # the picture says how it was made
    assert (code, json.loads(out)["fusion"]) == (0, expected)
    code, out, _ = rampart(capsys, "eval", str(recording), "--config", str(EXAMPLE), "--json")  # --config wins
    assert (code, json.loads(out)["fusion"]) == (0, settings(FusionConfig()))
