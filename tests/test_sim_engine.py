"""Engine behaviour: determinism, emit order, independent random streams, target lifetimes."""

from __future__ import annotations

import pickle

from simulators.engine import Emission, simulate
from simulators.native import GpsOutput, RadarOutput, TruthFrame, VideoOutput
from simulators.scenario import load_scenario, parse_scenario


def _smoke(seed: int | None = None) -> list[Emission]:
    return list(simulate(load_scenario("smoke"), seed))


def test_same_seed_gives_identical_bytes_other_seed_differs() -> None:
    first = pickle.dumps(_smoke())
    assert pickle.dumps(_smoke()) == first
    assert pickle.dumps(_smoke(seed=123)) != first


def test_smoke_emits_every_kind_in_emit_order() -> None:
    emissions = _smoke()
    times = [e.emit_time_us for e in emissions]
    assert times == sorted(times)
    kinds = {type(e.native) for e in emissions}
    assert kinds == {TruthFrame, RadarOutput, VideoOutput, GpsOutput}
    truth = [e.native for e in emissions if isinstance(e.native, TruthFrame)]
    assert len(truth) == 60
    dispositions = {o.object_id: o.disposition for o in truth[30].objects}
    assert dispositions["hostile-1"] == "hostile"
    assert dispositions["drone-1"] == dispositions["ifv-1"] == "friendly"
    assert {o.platform_id for o in truth[30].objects} == {None, "drone-1", "ifv-1"}


def test_adding_a_source_leaves_the_others_untouched() -> None:
    base = load_scenario("smoke")
    extra = base.model_copy(update={"radars": [*base.radars, base.radars[0].model_copy(update={"id": "r2"})]})
    before = [e for e in simulate(base)]
    after = [e for e in simulate(extra) if not (isinstance(e.native, RadarOutput) and e.native.sensor_id == "r2")]
    assert pickle.dumps(after) == pickle.dumps(before)


def test_targets_exist_only_between_appear_and_leave() -> None:
    text = """
name = "lifetimes"
duration_s = 30
truth_rate_hz = 2
[origin]
lat = 54.0
lon = 10.0
[[targets]]
id = "blink"
class = "person"
route = [[0, 0], [100, 0]]
speed_mps = 1
appear_s = 10
leave_s = 20.5
[[targets]]
id = "always"
class = "uav"
start = [0, 0]
speed_mps = 5
process_noise = 0.5
"""
    scenario = parse_scenario(text)
    start = scenario.start_time_us
    seen = {
        (e.native.time_us - start) / 1e6: {o.object_id for o in e.native.objects}
        for e in simulate(scenario)
        if isinstance(e.native, TruthFrame)
    }
    assert len(seen) == 60
    for t, ids in seen.items():
        assert ("blink" in ids) == (10.0 <= t < 20.5), t
        assert "always" in ids
    # The route starts when the target appears: it is at its first waypoint then.
    first = next(
        o
        for e in simulate(scenario)
        if isinstance(e.native, TruthFrame)
        for o in e.native.objects
        if o.object_id == "blink"
    )
    assert (first.latitude_deg, first.longitude_deg, first.altitude_m) == (54.0, 10.0, 0.0)
