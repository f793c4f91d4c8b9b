"""Apple Health ``export.xml``: beat-to-beat series where present, otherwise SDNN samples (kept as SDNN).

An Apple Watch HRV record (``HKQuantityTypeIdentifierHeartRateVariabilitySDNN``) carries a
``HeartRateVariabilityMetadataList`` of ``InstantaneousBeatsPerMinute`` entries, one per beat, whose ``time``
is the beat's local clock time (centisecond resolution) on the record's start date. Intervals are the
differences of successive beat times inside one record. Records without beats give SDNN samples only:
they are returned as ``RRRecording.sdnn`` and never turned into RR intervals.

Read with expat in a stream (exports are often gigabytes), so every error names its line: a clock that is no
time of day (``99:99:99.99``), an SDNN that is not a finite positive number (NaN, inf, -45), a start date that
is unreadable or outside the accepted range.
"""

from __future__ import annotations

import re
import xml.parsers.expat
from pathlib import Path

import numpy as np
import pandas as pd

from model.io._beats import check_intervals, finish
from model.io._common import Lines, ReadOptions, RRRecording, strict_numbers
from model.io._times import check_clock, check_times
from model.io.chunks import open_binary

SDNN_TYPE = "HKQuantityTypeIdentifierHeartRateVariabilitySDNN"
_CLOCK = re.compile(r"^\s*([0-9]{1,2}):([0-9]{2}):([0-9]{2})(?:[.,]([0-9]+))?\s*([AaPp][Mm])?\s*$")
_BEAT_TAG = "InstantaneousBeatsPerMinute"
MAX_SDNN_MS = 1000.0  # an SDNN above a second is no heart's


def clock_ms(text: str) -> int | None:
    """``8:30:24.82 AM`` or ``20:30:24,82`` -> ms since midnight; None unless it is a time of day."""
    match = _CLOCK.match(text or "")
    if not match:
        return None
    hour, minute, second, frac, ampm = match.groups()
    h, m, s = int(hour), int(minute), int(second)
    if ampm:
        if not 1 <= h <= 12:
            return None
        h = h % 12 + (12 if ampm.lower() == "pm" else 0)
    if h > 23 or m > 59 or s > 59:
        return None
    frac_ms = round(float(f"0.{frac}") * 1000) if frac else 0
    return ((h * 60 + m) * 60 + s) * 1000 + frac_ms


def _stamp(text: str) -> pd.Timestamp | None:
    """``2020-09-20 08:30:23 +0200`` -> aware timestamp (None when unreadable)."""
    if not text or not text.isascii():
        return None
    try:
        return pd.Timestamp(pd.to_datetime(text, format="%Y-%m-%d %H:%M:%S %z"))
    except (ValueError, TypeError, OverflowError):
        return None


class _Export:
    """expat handlers collecting beats and SDNN samples, each with the line it came from."""

    def __init__(self, parser, lines: Lines) -> None:
        self.parser, self.lines = parser, lines
        self.times, self.ibis, self.beat_lines = [], [], []
        self.sdnn_t, self.sdnn_v, self.sdnn_lines = [], [], []
        self.record = None  # (start, value, line) of the SDNN record being read
        self.clocks: list[tuple[str, int]] = []

    def bad(self, problem: str, line: int, fix: str | None = None) -> None:
        self.lines.check(np.array([True]), np.array([line]), problem, fix)

    def start(self, tag: str, attrs: dict) -> None:
        line = self.parser.CurrentLineNumber
        if tag == "Record" and attrs.get("type") == SDNN_TYPE:
            self.record = (attrs.get("startDate", ""), attrs.get("value"), line)
            self.clocks = []
        elif tag == _BEAT_TAG and self.record is not None:
            self.clocks.append((attrs.get("time", ""), line))

    def end(self, tag: str) -> None:
        if tag != "Record" or self.record is None:
            return
        start_text, value, line = self.record
        self.record = None
        start = _stamp(start_text)
        if start is None:
            self.bad(f"startDate {start_text!r} is not readable", line, "write e.g. 2026-11-10 08:00:00 +0100")
            return
        if len(self.clocks) >= 2:
            self._beats(start)
            return
        sdnn = float(strict_numbers(pd.Series([value if value is not None else ""], dtype=object))[0])
        if not (np.isfinite(sdnn) and 0 < sdnn <= MAX_SDNN_MS):
            self.bad(
                f"the SDNN value {value!r} is not a number of milliseconds above 0 and up to {MAX_SDNN_MS:g}",
                line,
                "export the data again; a damaged record can be removed from the file",
            )
            return
        self.sdnn_t.append(start.value // 1_000_000)
        self.sdnn_v.append(sdnn)
        self.sdnn_lines.append(line)

    def _beats(self, start: pd.Timestamp) -> None:
        local = []
        for text, line in self.clocks:
            ms = clock_ms(text)
            if ms is None:
                self.bad(f"the beat time {text!r} is not a time of day", line, "times look like 8:30:24.82 AM")
                return
            local.append(ms)
        midnight = start.normalize()
        local_ms = np.asarray(local, dtype=np.int64)
        start_local_ms = (start - midnight).value // 1_000_000
        local_ms = local_ms + np.where(local_ms < start_local_ms - 60_000, 86_400_000, 0)  # past midnight
        epoch = (midnight.value // 1_000_000) + local_ms  # aware midnight -> UTC epoch ms
        numbers = np.asarray([line for _, line in self.clocks], dtype=np.int64)
        ibi = np.diff(epoch).astype(np.float64)
        keep = check_clock(epoch, numbers, Lines(self.lines.source, True))[1:] & (ibi > 0)
        self.times.append(epoch[1:][keep])
        self.ibis.append(ibi[keep])
        self.beat_lines.append(numbers[1:][keep])


def read_apple_health(path: Path, options: ReadOptions, lines: Lines) -> RRRecording:
    parser = xml.parsers.expat.ParserCreate()
    export = _Export(parser, lines)
    parser.StartElementHandler = export.start
    parser.EndElementHandler = export.end
    try:
        with open_binary(path, lines) as fh:
            parser.ParseFile(fh)
    except xml.parsers.expat.ExpatError as exc:
        raise lines.error(
            f"the XML is malformed or truncated ({xml.parsers.expat.errors.messages[exc.code]})",
            line=exc.lineno,
            fix="export Apple Health data again; the file must end with </HealthData>",
        ) from None
    sdnn_t = np.asarray(export.sdnn_t, dtype=np.int64)
    sdnn_v = np.asarray(export.sdnn_v, dtype=np.float64)
    if export.times:
        epoch_ms, ibi_ms = np.concatenate(export.times), np.concatenate(export.ibis)
        numbers = np.concatenate(export.beat_lines)
    else:
        epoch_ms, ibi_ms, numbers = np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0, dtype=np.int64)
    if not epoch_ms.size and not sdnn_t.size:
        raise lines.error(
            "the export holds no heartbeat series and no HRV (SDNN) samples",
            fix="enable heart rate variability on the watch, or export another file",
        )
    ok = check_times(sdnn_t, np.asarray(export.sdnn_lines, dtype=np.int64), lines, options)
    sdnn = pd.DataFrame({"time_ms": sdnn_t[ok], "sdnn_ms": sdnn_v[ok]}).sort_values("time_ms", ignore_index=True)
    order = np.argsort(epoch_ms, kind="stable")
    epoch_ms, ibi_ms, numbers = epoch_ms[order], ibi_ms[order], numbers[order]
    good = check_times(epoch_ms, numbers, lines, options)
    good &= np.where(good, check_intervals(np.where(good, ibi_ms, 1000.0), numbers, lines), False)
    return finish(epoch_ms[good], ibi_ms[good], numbers[good], lines, "apple-health", sdnn=sdnn, sdnn_only=True)
