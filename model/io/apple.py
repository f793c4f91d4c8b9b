"""Apple Health ``export.xml``: beat-to-beat series where present, otherwise SDNN samples (kept as SDNN).

An Apple Watch HRV record (``HKQuantityTypeIdentifierHeartRateVariabilitySDNN``) carries a
``HeartRateVariabilityMetadataList`` of ``InstantaneousBeatsPerMinute`` entries, one per beat, whose ``time``
is the beat's local clock time (centisecond resolution) on the record's start date. Intervals are the
differences of successive beat times inside one record. Records without beats give SDNN samples only:
they are returned as ``RRRecording.sdnn`` and never turned into RR intervals.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd

from model.io._common import Lines, RRRecording, check_clock

SDNN_TYPE = "HKQuantityTypeIdentifierHeartRateVariabilitySDNN"
_CLOCK = re.compile(r"^\s*(\d{1,2}):(\d{2}):(\d{2})(?:[.,](\d+))?\s*([AaPp][Mm])?\s*$")


def _clock_ms(text: str) -> int | None:
    """``8:30:24.82 AM`` or ``20:30:24,82`` -> ms since midnight."""
    match = _CLOCK.match(text or "")
    if not match:
        return None
    hour, minute, second, frac, ampm = match.groups()
    h = int(hour)
    if ampm:
        h = h % 12 + (12 if ampm.lower() == "pm" else 0)
    frac_ms = round(float(f"0.{frac}") * 1000) if frac else 0
    return ((h * 60 + int(minute)) * 60 + int(second)) * 1000 + frac_ms


def _stamp_ms(text: str) -> pd.Timestamp:
    """``2020-09-20 08:30:23 +0200`` -> aware timestamp."""
    return pd.Timestamp(pd.to_datetime(text, format="%Y-%m-%d %H:%M:%S %z"))


def read_apple_health(path: Path, lines: Lines) -> RRRecording:
    times: list[np.ndarray] = []
    ibis: list[np.ndarray] = []
    sdnn_t: list[int] = []
    sdnn_v: list[float] = []
    try:
        for _event, elem in ET.iterparse(path, events=("end",)):
            if elem.tag != "Record":
                continue
            if elem.get("type") == SDNN_TYPE:
                _record(elem, lines, times, ibis, sdnn_t, sdnn_v)
            elem.clear()
    except ET.ParseError as exc:
        line = exc.position[0] if getattr(exc, "position", None) else None
        raise lines.error(
            f"the XML is malformed or truncated ({exc})",
            line=line,
            fix="export Apple Health data again; the file must end with </HealthData>",
        ) from None
    sdnn = pd.DataFrame({"time_ms": np.asarray(sdnn_t, dtype=np.int64), "sdnn_ms": np.asarray(sdnn_v)})
    if not times and sdnn.empty:
        raise lines.error(
            "the export holds no heartbeat series and no HRV (SDNN) samples",
            fix="enable heart rate variability on the watch, or export another file",
        )
    if times:
        epoch_ms, ibi_ms = np.concatenate(times), np.concatenate(ibis)
        order = np.argsort(epoch_ms, kind="stable")
        epoch_ms, ibi_ms = epoch_ms[order], ibi_ms[order]
    else:
        epoch_ms, ibi_ms = np.zeros(0, dtype=np.int64), np.zeros(0)
    return RRRecording(
        epoch_ms, ibi_ms, "apple-health", lines.skipped, sdnn=sdnn.sort_values("time_ms", ignore_index=True)
    )


def _record(elem: ET.Element, lines: Lines, times: list, ibis: list, sdnn_t: list, sdnn_v: list) -> None:
    try:
        start = _stamp_ms(elem.get("startDate", ""))
    except (ValueError, TypeError):
        lines.check(np.array([True]), np.array([0]), f"startDate {elem.get('startDate')!r} is not readable")
        return
    beats = elem.findall("./HeartRateVariabilityMetadataList/InstantaneousBeatsPerMinute")
    clocks = [_clock_ms(b.get("time", "")) for b in beats]
    if len(beats) >= 2 and all(c is not None for c in clocks):
        midnight = start.normalize()
        local_ms = np.asarray(clocks, dtype=np.int64)
        start_local_ms = (start - midnight).value // 1_000_000
        local_ms = local_ms + np.where(local_ms < start_local_ms - 60_000, 86_400_000, 0)  # past midnight
        epoch = (midnight.value // 1_000_000) + local_ms  # aware midnight -> UTC epoch ms
        ibi = np.diff(epoch).astype(np.float64)
        keep = check_clock(epoch, np.zeros(epoch.size, dtype=np.int64), Lines(lines.source, True))[1:]
        times.append(epoch[1:][keep & (ibi > 0)])
        ibis.append(ibi[keep & (ibi > 0)])
        return
    value = elem.get("value")
    try:
        sdnn_v.append(float(value))
    except (TypeError, ValueError):
        lines.check(np.array([True]), np.array([0]), f"an SDNN value {value!r} is not a number")
        return
    sdnn_t.append(start.value // 1_000_000)
