"""Ground truth from the simulators -> `GroundTruth`, for evaluation only (never fused)."""

from __future__ import annotations

from adapters.common import point_from_msl, schema_checked, utc_from_us
from bus.schema import GroundTruth, Source, TruthObject
from simulators.native import TruthFrame


def translate(frame: TruthFrame, source: Source, scenario_id: str) -> GroundTruth:
    with schema_checked("truth frame"):
        return GroundTruth(
            source=source,
            time=utc_from_us(frame.time_us),
            scenario_id=scenario_id,
            objects=[
                TruthObject(
                    object_id=item.object_id,
                    position=point_from_msl(item.latitude_deg, item.longitude_deg, item.altitude_m),
                    velocity_enu_mps=item.velocity_enu_mps,
                    object_class=item.object_class,
                    disposition=item.disposition,
                    environment=item.environment,
                    platform_id=item.platform_id,
                )
                for item in frame.objects
            ],
        )
