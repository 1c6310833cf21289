"""Geometry against hand-computed values: polar plots, camera footprint, NMEA checksums."""

from __future__ import annotations

import pytest

from adapters import klv, radar
from simulators import nmea
from simulators.engine import simulate
from simulators.native import RadarOutput, VideoOutput
from simulators.scenario import parse_scenario

HEADER = """
name = "geometry"
duration_s = 1
[origin]
lat = 54.0
lon = 10.0
"""

EXACT = "sigma_range_m = 0\nsigma_bearing_deg = 0\nsigma_elevation_deg = 0\npd0 = 1.0\nr0_m = 4000\nmax_range_m = 5000"


@pytest.mark.parametrize(
    ("east", "north", "up", "bearing", "elevation"),
    [
        (1000.0, 0.0, 0.0, 90.0, 0.0),
        (0.0, 1000.0, 0.0, 0.0, 0.0),
        (0.0, -1000.0, 0.0, 180.0, 0.0),
        (-1000.0, 0.0, 0.0, 270.0, 0.0),
        (1000.0, 1000.0, 1000.0 * 2**0.5, 45.0, 45.0),
    ],
)
def test_radar_plot_of_a_target(east: float, north: float, up: float, bearing: float, elevation: float) -> None:
    text = (
        HEADER
        + f'[[targets]]\nid = "t"\nclass = "uav"\nstart = [{east}, {north}]\nspeed_mps = 0\naltitude_m = {up}\n'
        + f'[[radars]]\nid = "r"\nposition = [0, 0]\nheight_m = 0\n{EXACT}\n'
    )
    (scan,) = [radar.parse(e.native.data) for e in simulate(parse_scenario(text)) if isinstance(e.native, RadarOutput)]
    (plot,) = scan.plots
    assert plot.range_m == pytest.approx((east**2 + north**2 + up**2) ** 0.5)
    assert plot.azimuth_deg == pytest.approx(bearing)
    assert plot.elevation_deg == pytest.approx(elevation)
    assert (scan.latitude_deg, scan.longitude_deg, scan.altitude_msl_m) == (54.0, 10.0, 0.0)


def test_radar_sector_hides_targets_behind_it() -> None:
    text = (
        HEADER
        + '[[targets]]\nid = "e"\nclass = "vehicle"\nstart = [1000, 0]\nspeed_mps = 0\n'
        + '[[targets]]\nid = "w"\nclass = "vehicle"\nstart = [-1000, 0]\nspeed_mps = 0\n'
        + f'[[radars]]\nid = "r"\nposition = [0, 0]\nfov_center_deg = 90\nfov_width_deg = 90\n{EXACT}\n'
    )
    (scan,) = [radar.parse(e.native.data) for e in simulate(parse_scenario(text)) if isinstance(e.native, RadarOutput)]
    assert [round(p.azimuth_deg) for p in scan.plots] == [90]


def test_nadir_camera_footprint() -> None:
    """A drone 1000 m up looking straight down with 90 deg fovs sees a 2 km square centred below it."""
    text = (
        HEADER
        + '[[targets]]\nid = "t"\nclass = "vehicle"\nstart = [0, 0]\nspeed_mps = 0\n'
        + '[[drones]]\nid = "d"\naltitude_m = 1000\nspeed_mps = 1\n'
        + 'behaviour = { kind = "patrol", route = [[0, 0], [0, 10]] }\n'
        + "camera = { hfov_deg = 90, vfov_deg = 90, sigma_m = 0, pd0 = 1.0, r0_m = 2000, max_range_m = 3000 }\n"
    )
    output = next(e.native for e in simulate(parse_scenario(text)) if isinstance(e.native, VideoOutput))
    misb = klv.decode_packet(output.data)  # KLV resolutions: ~1 cm horizontally, ~0.3 m in altitude
    assert misb.platform_heading_deg == pytest.approx(0.0, abs=0.01)
    assert misb.sensor_relative_elevation_deg == pytest.approx(-90.0)
    assert misb.slant_range_m == pytest.approx(1000.0, abs=0.01)
    assert misb.sensor_true_altitude_m == pytest.approx(1000.0, abs=0.3)
    assert (misb.frame_center_latitude_deg, misb.frame_center_longitude_deg) == pytest.approx((54.0, 10.0))
    assert misb.corner_latitudes_deg is not None and misb.corner_longitudes_deg is not None
    north, south = misb.corner_latitudes_deg[0], misb.corner_latitudes_deg[2]
    west, east = misb.corner_longitudes_deg[0], misb.corner_longitudes_deg[1]
    assert (north - 54.0) * 111_400 == pytest.approx(1000.0, rel=0.01)  # upper edge is ahead (north)
    assert (54.0 - south) * 111_400 == pytest.approx(1000.0, rel=0.01)
    assert west < 10.0 < east
    (det,) = misb.targets  # the VMTI target: box to the pixel of a 1280 x 720 frame
    assert det.box is not None and (det.box[0] + det.box[2]) / 2 == pytest.approx(0.5, abs=1 / 1280)
    assert (det.latitude_deg, det.longitude_deg) == pytest.approx((54.0, 10.0))
    assert det.hae_m == pytest.approx(0.0, abs=1.0)  # ST 0903 HAE: whole metres, truncated


def test_nmea_checksum_of_the_textbook_sentence() -> None:
    assert nmea.checksum("GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,") == "47"


def test_nmea_angles_and_clock() -> None:
    sentence = nmea.gga(1_767_225_600_000_000 + 3_723_456_789, -33.5, -70.999999999, 12.34)
    assert sentence.startswith("$GPGGA,010203.46,3330.0000,S,07100.0000,W,1,10,0.9,12.3,M,0.0,M,,*")
