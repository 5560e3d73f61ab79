"""The review flags that a visit's own data sets (``VisitFlag``), computed for whole arrays of visits at once.

The one definition of each check: ``visit_enrich`` (every write), ``visits_reassign`` (after a boundary import;
the checks that depend on the place) and the benchmark's data generator all call these.
"""

import numpy as np
from django.conf import settings

from agri.models import VisitFlag


def flag_bits(flags: dict[str, np.ndarray]) -> np.ndarray:
    """``Visit.flag_bits`` from boolean arrays keyed by ``VisitFlag`` code."""
    bits = None
    for code, hit in flags.items():
        value = np.where(np.asarray(hit, dtype=bool), VisitFlag.BITS[code], 0).astype(np.int64)
        bits = value if bits is None else bits | value
    return bits


def place_flags(villages: np.ndarray, county_prefix: np.ndarray, target_village: np.ndarray) -> dict[str, np.ndarray]:
    """The checks that follow from the village a point lies in (``None`` where it lies in none): unassigned,
    outside the recording person's county (``county_prefix``, 6 digits), and, for a visit to a village
    (``target_village``, ``None`` for other targets), not in that village."""
    villages = np.asarray(villages, dtype=object)
    found = np.not_equal(villages, None)
    codes = np.where(found, villages, "").astype(str)
    in_county = found & np.strings.startswith(codes, np.asarray(county_prefix).astype(str))
    to_village = np.not_equal(target_village, None)
    away = to_village & (codes != np.where(to_village, target_village, "").astype(str))
    return {VisitFlag.UNASSIGNED: ~found, VisitFlag.OUTSIDE_COUNTY: ~in_county, VisitFlag.FAR_FROM_TARGET: away}


def visit_flag_bits(
    *,
    villages: np.ndarray,
    county_prefix: np.ndarray,
    target_village: np.ndarray,
    target_distance_m: np.ndarray,
    accuracy_m: np.ndarray,
    mock_location: np.ndarray,
    started_after_receipt_s: np.ndarray,
) -> np.ndarray:
    """Every flag a visit's data sets, with the thresholds of ``settings.VISIT_CHECKS``.

    ``target_distance_m`` is the distance from the registered point of the target (NaN for village targets, whose
    check is the village itself); ``accuracy_m`` NaN where unknown; ``started_after_receipt_s`` the start time
    minus the time the server received the visit, in seconds (positive: in the future).
    """
    checks = settings.VISIT_CHECKS
    flags = place_flags(villages, county_prefix, target_village)
    distance = np.asarray(target_distance_m, dtype=float)
    accuracy = np.asarray(accuracy_m, dtype=float)
    offset = np.asarray(started_after_receipt_s, dtype=float)
    with np.errstate(invalid="ignore"):  # NaN compares as False: no distance or accuracy, no flag
        flags[VisitFlag.FAR_FROM_TARGET] |= distance > checks["max_target_distance_m"]
        flags[VisitFlag.POOR_ACCURACY] = accuracy > checks["max_accuracy_m"]
    flags[VisitFlag.MOCK_LOCATION] = np.asarray(mock_location, dtype=bool)
    flags[VisitFlag.FUTURE_START] = offset > checks["clock_skew_minutes"] * 60
    flags[VisitFlag.STALE_START] = offset < -checks["max_age_days"] * 86400
    return flag_bits(flags)
