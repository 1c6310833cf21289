"""Radar adapter: one polar `RadarScan` -> one `SensorReading` (one message per scan).

Plots stay polar (bearing clockwise from true north, as the native gives it): the fusion core owns
the conversion to Cartesian, where the sensor's pose and the plot's uncertainty meet.
"""

from __future__ import annotations

from adapters.base import Adapter
from adapters.common import class_probabilities, point_from_msl, schema_checked, utc_from_us, wrap_360
from bus.schema import Detection, PolarMeasurement, SensorReading, Source
from simulators.native import RadarPlot, RadarScan


def translate(scan: RadarScan, source: Source) -> SensorReading:
    """Translate one scan. `time` is the sensor's own clock as reported (any offset is left for
    fusion to estimate); the sensor altitude is MSL, taken as HAE (see `GEOID_SEPARATION_M`).

    Raises NativeFormatError when a value does not fit the schema.
    """
    with schema_checked("radar scan"):
        return SensorReading(
            source=source,
            time=utc_from_us(scan.time_us),
            sensor_position=point_from_msl(scan.sensor_latitude_deg, scan.sensor_longitude_deg, scan.sensor_altitude_m),
            scan_id=scan.scan_index,
            detections=[_detection(plot) for plot in scan.plots],
        )


def _detection(plot: RadarPlot) -> Detection:
    return Detection(
        polar=PolarMeasurement(
            range_m=plot.range_m,
            bearing_deg=wrap_360(plot.bearing_deg),
            elevation_deg=plot.elevation_deg,
            sigma_range_m=plot.sigma_range_m,
            sigma_bearing_deg=plot.sigma_bearing_deg,
            sigma_elevation_deg=plot.sigma_elevation_deg,
        ),
        class_probabilities=class_probabilities(plot.label, plot.label_confidence),
        snr_db=plot.snr_db,
    )


class RadarAdapter(Adapter[RadarScan]):
    """Publishes a polar radar's scans, one SensorReading per scan."""

    kind = "sensor"
    integration = "polar-radar"

    def translate(self, native: RadarScan) -> SensorReading:
        return translate(native, self.source)
