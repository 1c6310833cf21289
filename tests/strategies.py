"""Hypothesis strategies that build valid instances of every message in the schema."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from hypothesis import strategies as st

from bus import schema

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
positive = st.floats(min_value=1e-3, max_value=1e4, allow_nan=False)
identifiers = st.from_regex(r"[A-Za-z0-9_.:-]{1,64}", fullmatch=True)
texts = st.text(max_size=40)
times = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)).map(
    lambda t: t.replace(microsecond=t.microsecond)
)

geo_points = st.builds(
    schema.GeoPoint,
    lat=st.floats(-90, 90),
    lon=st.floats(-180, 180),
    hae_m=st.floats(-500, 20_000),
)
vectors = st.tuples(finite, finite, finite)


@st.composite
def covariances(draw: st.DrawFn) -> tuple:
    """A @ A.T is symmetric positive semi-definite by construction."""
    a = np.array(draw(st.lists(st.floats(-100, 100), min_size=9, max_size=9))).reshape(3, 3)
    matrix = a @ a.T
    matrix = (matrix + matrix.T) / 2
    return tuple(tuple(float(v) for v in row) for row in matrix)


@st.composite
def class_probabilities(draw: st.DrawFn) -> dict:
    classes = draw(st.lists(st.sampled_from(list(schema.ObjectClass)), unique=True, max_size=5))
    weights = [draw(st.floats(0, 1)) for _ in classes]
    total = sum(weights) or 1.0
    scale = draw(st.floats(0, 1))
    return {c: w / total * scale for c, w in zip(classes, weights, strict=True)}


kinds = st.sampled_from(list(schema.SourceKind))
sources = st.builds(schema.Source, id=identifiers, kind=kinds, integration=identifiers)
envelope = {
    "source": sources,
    "seq": st.integers(0, 2**63 - 1),
    "session": st.integers(0, 2**31),
    "time": times,
    "sent_at": st.none() | times,
}
geo_measurements = st.builds(schema.GeoMeasurement, position=geo_points, covariance_enu_m2=covariances())
polar = st.builds(
    schema.PolarMeasurement,
    range_m=st.floats(0, 1e5),
    bearing_deg=st.floats(0, 360),
    elevation_deg=st.floats(-90, 90),
    sigma_range_m=positive,
    sigma_bearing_deg=st.floats(1e-3, 10),
    sigma_elevation_deg=st.floats(1e-3, 10),
)
detections = st.one_of(
    st.builds(schema.Detection, polar=polar, class_probabilities=class_probabilities()),
    st.builds(schema.Detection, geo=geo_measurements, snr_db=st.none() | finite),
)


@st.composite
def boxes(draw: st.DrawFn) -> schema.BoundingBox:
    xs = sorted(draw(st.lists(st.floats(0, 1), min_size=2, max_size=2)))
    ys = sorted(draw(st.lists(st.floats(0, 1), min_size=2, max_size=2)))
    return schema.BoundingBox(x_min=xs[0], x_max=xs[1], y_min=ys[0], y_max=ys[1])


tracks = st.builds(
    schema.Track,
    track_id=identifiers,
    status=st.sampled_from(list(schema.TrackStatus)),
    position=geo_points,
    velocity_enu_mps=vectors,
    position_cov_enu_m2=covariances(),
    velocity_cov_enu_m2s2=covariances(),
    disposition=st.sampled_from(list(schema.Disposition)),
    environment=st.sampled_from(list(schema.Environment)),
    class_probabilities=class_probabilities(),
    sources=st.lists(
        st.builds(
            schema.SourceContribution,
            source_id=identifiers,
            kind=kinds,
            last_time=times,
        ),
        max_size=3,
    ),
    first_seen=times,
    updated=times,
    stale_at=times,
)

picture_seqs = st.integers(0, 2**40)

MESSAGES = {
    schema.PositionReport: st.builds(
        schema.PositionReport,
        **envelope,
        platform_id=identifiers,
        position=geo_points,
        velocity_enu_mps=st.none() | vectors,
        heading_deg=st.none() | st.floats(0, 360),
        ce_m=st.none() | positive,
        callsign=texts,
    ),
    schema.SensorReading: st.builds(
        schema.SensorReading,
        **envelope,
        sensor_position=geo_points,
        detections=st.lists(detections, max_size=4),
    ),
    schema.VideoMetadata: st.builds(
        schema.VideoMetadata,
        **envelope,
        stream_id=identifiers,
        platform_heading_deg=st.none() | st.floats(0, 360),
        sensor_position=st.none() | geo_points,
        slant_range_m=st.none() | positive,
        frame_center=st.none() | geo_points,
        footprint_corners=st.none() | st.tuples(geo_points, geo_points, geo_points, geo_points),
        detections=st.lists(
            st.builds(
                schema.VideoDetection,
                box=boxes(),
                confidence=st.floats(0, 1),
                class_probabilities=class_probabilities(),
                geo=st.none() | geo_measurements,
            ),
            max_size=3,
        ),
    ),
    schema.TrackUpdate: st.builds(schema.TrackUpdate, **envelope, picture_seq=picture_seqs, track=tracks),
    schema.PictureSnapshot: st.builds(
        schema.PictureSnapshot, **envelope, picture_seq=picture_seqs, tracks=st.lists(tracks, max_size=3)
    ),
    schema.NodeState: st.builds(
        schema.NodeState,
        **envelope,
        online=st.booleans(),
        role=texts,
        figures=st.dictionaries(identifiers, finite, max_size=4),
    ),
    schema.DeadLetter: st.builds(
        schema.DeadLetter,
        **envelope,
        original_topic=texts,
        reason=texts,
        payload=st.none() | st.binary(max_size=64),
        payload_size=st.integers(0, 10**6),
        payload_sha256=st.from_regex(r"[0-9a-f]{64}", fullmatch=True),
    ),
    schema.GroundTruth: st.builds(
        schema.GroundTruth,
        **envelope,
        scenario_id=identifiers,
        objects=st.lists(
            st.builds(
                schema.TruthObject,
                object_id=identifiers,
                position=geo_points,
                velocity_enu_mps=vectors,
                object_class=st.sampled_from(list(schema.ObjectClass)),
                disposition=st.sampled_from(list(schema.Disposition)),
                environment=st.sampled_from(list(schema.Environment)),
            ),
            max_size=3,
        ),
    ),
}


# --- native records, as devices (and the simulator's encoders) write them ------------------------------

native_times_us = st.integers(min_value=315_532_800_000_000, max_value=3_155_760_000_000_000)  # 1980-2069
"""NMEA's two-digit years cover 1980-2079; ST 0601 and the radar format have no such limit."""


@st.composite
def nmea_fixes(draw: st.DrawFn) -> tuple[bytes, float, float]:
    """One receiver fix (GGA + RMC, CR LF) from the simulator's NMEA writer, with its latitude and longitude."""
    from simulators import nmea

    time_us, lat, lon = draw(native_times_us), draw(st.floats(-89.9, 89.9)), draw(st.floats(-179.9, 179.9))
    altitude = draw(st.floats(-400, 9000))
    speed, course = draw(st.floats(0, 300)), draw(st.floats(0, 359.9))
    sentences = (nmea.gga(time_us, lat, lon, altitude), nmea.rmc(time_us, lat, lon, speed, course))
    return "".join(f"{sentence}\r\n" for sentence in sentences).encode(), lat, lon


@st.composite
def radar_documents(draw: st.DrawFn) -> tuple[bytes, int]:
    """One "polar-radar/1" scan from the simulator's writer, with its number of plots."""
    from simulators import polar_radar

    plots = draw(
        st.lists(
            st.builds(
                polar_radar.Plot,
                range_m=st.floats(0, 1e6),
                azimuth_deg=st.floats(0, 360),
                elevation_deg=st.floats(-90, 90),
                snr_db=st.floats(-50, 100),
                label=st.sampled_from(["vehicle", "person", "uav", "balloon", None]),
                label_confidence=st.floats(0, 1),
            ),
            max_size=5,
        )
    )
    site = (draw(st.floats(-90, 90)), draw(st.floats(-180, 180)), draw(st.floats(-400, 9000)))
    accuracy = (draw(st.floats(0.01, 1e3)), draw(st.floats(0.001, 10)), draw(st.floats(0.001, 10)))  # sigmas > 0
    sector = (
        draw(st.floats(0, 360)),
        draw(st.floats(0, 360)),
        draw(st.floats(1, 1e5)),
        draw(st.floats(0, 1)),
        draw(st.floats(0, 1e6)),
    )
    data = polar_radar.scan(
        draw(identifiers), draw(st.integers(0, 2**40)), draw(native_times_us), site, accuracy, plots, sector
    )
    return data, len(plots)


@st.composite
def klv_packets(draw: st.DrawFn) -> tuple[bytes, int]:
    """One ST 0601 packet with VMTI targets from the simulator's encoder, with its number of targets."""
    from simulators import klv

    def angle(low: float, high: float) -> float:
        return draw(st.floats(low, high))

    fields = {
        2: draw(native_times_us),
        5: angle(0, 360),
        13: angle(-90, 90),
        14: angle(-180, 180),
        15: angle(-900, 19_000),
        18: angle(0, 360),
        19: angle(-180, 180),
        23: angle(-90, 90),
        24: angle(-180, 180),
        25: angle(-900, 19_000),
    }
    corner = st.tuples(st.floats(0, 1), st.floats(0, 1))

    def box(corners: tuple[tuple[float, float], tuple[float, float]]) -> tuple[float, float, float, float]:
        (x0, y0), (x1, y1) = corners
        return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)

    targets = draw(
        st.lists(
            st.builds(
                klv.Target,
                box=st.tuples(corner, corner).map(
                    lambda c: (*map(min, zip(*c, strict=True)), *map(max, zip(*c, strict=True)))
                ),
                label=st.sampled_from([*klv.CLASS_LABELS, None]),
                confidence=st.floats(0, 1),
                latitude_deg=st.floats(-90, 90),
                longitude_deg=st.floats(-180, 180),
                hae_m=st.floats(-900, 19_000),
                sigma_horizontal_m=st.floats(0, 650),
                sigma_vertical_m=st.floats(0, 650),
            ),
            max_size=4,
        ).map(tuple)
    )
    return klv.packet(fields, targets), len(targets)
