"""RR readers: every format, auto-detection, clocks, and bad input named by file and line."""

from __future__ import annotations

import numpy as np
import pytest

from model.errors import BadRRFile, UnknownFormat
from model.io import FORMATS, ReadOptions, detect_format, read_rr

T0_ISO = "2026-11-10T03:00:00Z"
T0 = 1_794_279_600_000  # 2026-11-10T03:00:00Z, by hand: datetime(2026, 11, 10, 3, tzinfo=UTC).timestamp() * 1000


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_t0_constant_is_right():
    from datetime import UTC, datetime

    assert int(datetime(2026, 11, 10, 3, tzinfo=UTC).timestamp() * 1000) == T0


# -- each format ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,units", [("812\n790\n805\n", None), ("0.812\n0.790\n0.805\n", None), ("0.812\n0.790\n0.805\n", "s")]
)
def test_plain_in_ms_or_seconds(tmp_path, text, units):
    rec = read_rr(write(tmp_path, "rr.txt", text), ReadOptions(start=T0_ISO, units=units))
    assert rec.format == "plain"
    assert rec.ibi_ms.tolist() == pytest.approx([812.0, 790.0, 805.0])
    assert rec.epoch_ms.tolist() == [T0 + 812, T0 + 1602, T0 + 2407]  # each beat ends its interval


def test_plain_without_start_has_no_clock(tmp_path):
    rec = read_rr(write(tmp_path, "rr.txt", "812\n790\n"))
    assert not rec.has_clock and rec.epoch_ms.tolist() == [812, 1602]


def test_generic_csv_as_demo_data_writes_it(tmp_path):
    text = "timestamp,rr_ms\n2026-11-10T03:00:00.993Z,993.3\n2026-11-10T03:00:01.967Z,973.8\n"
    rec = read_rr(write(tmp_path, "u.csv", text))
    assert rec.format == "csv"
    assert rec.epoch_ms.tolist() == [T0 + 993, T0 + 1967]
    assert rec.ibi_ms.tolist() == [993.3, 973.8]


def test_generic_csv_with_epoch_ms_and_offsets(tmp_path):
    rec = read_rr(write(tmp_path, "u.csv", f"time,ibi_ms\n{T0 + 800},800\n{T0 + 1600},800\n"))
    assert rec.epoch_ms.tolist() == [T0 + 800, T0 + 1600]
    text = "timestamp,rr\n2026-11-10T04:00:00.800+01:00,800\n2026-11-10T04:00:01.600+01:00,800\n"
    assert read_rr(write(tmp_path, "v.csv", text)).epoch_ms.tolist() == [T0 + 800, T0 + 1600]


def test_physionet_first_line_is_the_start_offset(tmp_path):
    rec = read_rr(write(tmp_path, "nsr.txt", "225.79687500\n0.69531250\n0.71093750\n"), ReadOptions(start=T0_ISO))
    assert rec.format == "physionet"
    assert rec.ibi_ms.tolist() == [695.3125, 710.9375]
    assert rec.epoch_ms.tolist() == [T0 + round(225_796.875 + 695.3125), T0 + round(225_796.875 + 1406.25)]


def test_mmash_bursts_share_a_second_and_day_minus_29_is_day_2(tmp_path):
    text = (
        ",ibi_s,day,time\n1,0.5,1,23:59:58\n2,0.6,1,23:59:58\n3,0.7,1,23:59:59\n"
        "4,0.8,-29,00:00:09\n5,0.8,-29,00:00:10\n"
    )
    rec = read_rr(write(tmp_path, "RR.csv", text), ReadOptions(start_date="2026-11-09"))
    assert rec.format == "mmash"
    day2 = T0 - 3 * 3_600_000
    # run 1: beats at anchor + 0.5, +1.1, +1.8 s; stamps 23:59:58, :58, :59 -> the latest start fitting all is
    # max(58 - 0.5, 58 - 1.1, 59 - 1.8) = 57.5 s; run 2 starts after the 8 s jump: max(9 - 0.8, 10 - 1.6) = 8.4 s
    assert rec.epoch_ms.tolist() == [day2 - 2000, day2 - 1400, day2 - 700, day2 + 9200, day2 + 10000]


def test_e4_ibi(tmp_path):
    rec = read_rr(write(tmp_path, "IBI.csv", "1644831900.000000, IBI\n15.953125,0.859375\n16.765625,0.812500\n"))
    assert rec.format == "e4"
    assert rec.epoch_ms.tolist() == [1_644_831_915_953, 1_644_831_916_766]
    assert rec.ibi_ms.tolist() == [859.375, 812.5]


def test_welltory_readings_one_subject(tmp_path):
    text = (
        '"user_code","measurement_datetime","rmssd","rr_data"\n'
        '"a1","2026-11-10 03:00:00","1","800,810"\n"a1","2026-11-10 02:00:00","1","900"\n'
    )
    rec = read_rr(write(tmp_path, "hrv_measurements.csv", text))
    assert rec.format == "welltory"
    assert rec.epoch_ms.tolist() == [T0 - 3_600_000 + 900, T0 + 800, T0 + 1610]
    text += '"b2","2026-11-10 05:00:00","1","700"\n'
    path = write(tmp_path, "many.csv", text)
    with pytest.raises(BadRRFile, match="2 subjects"):
        read_rr(path)
    assert read_rr(path, ReadOptions(subject="b2")).ibi_ms.tolist() == [700.0]


def test_polar_export_with_header_lines(tmp_path):
    rec = read_rr(write(tmp_path, "polar.txt", "Polar H10 RR export\nRR (ms)\n812\n790\n"), ReadOptions(start=T0_ISO))
    assert rec.format == "polar" and rec.ibi_ms.tolist() == [812.0, 790.0]


def _kubios(ibi_ms: np.ndarray, hole_after: int, hole_s: float, start_stamped: bool = False) -> str:
    """A Kubios-style ``Time(s) RR(s)`` export: each beat's time (the R peak ending its interval, or with
    ``start_stamped`` the one starting it), with ``hole_s`` seconds of lost signal after beat ``hole_after``."""
    t = np.cumsum(ibi_ms) / 1000.0
    t[hole_after:] += hole_s
    if start_stamped:
        t = t - ibi_ms / 1000.0
    return "Kubios HRV RR export\nTime(s)\tRR(s)\n" + "".join(
        f"{a:.3f}\t{b / 1000:.3f}\n" for a, b in zip(t, ibi_ms, strict=True)
    )


@pytest.mark.parametrize("start_stamped", [False, True])
def test_kubios_time_column_keeps_a_hole_in_the_recording(tmp_path, start_stamped):
    """The file's beat times are used: the beats after a 60 s hole stay 60 s later, and no successive
    difference spans the hole (laid end to end, the hole closed and a difference of -82 ms spanned it)."""
    from model.hrv.cleaning import CleaningConfig
    from model.hrv.windows import HrvConfig, compute_windows

    rng = np.random.default_rng(0)
    ibi = np.round(900 + rng.normal(0, 40, 400))
    text = _kubios(ibi, hole_after=200, hole_s=60.0, start_stamped=start_stamped)
    rec = read_rr(write(tmp_path, "kubios.txt", text), ReadOptions(fmt="polar", start=T0_ISO))
    assert rec.ibi_ms.tolist() == pytest.approx(ibi.tolist())
    expected = T0 + np.rint(np.cumsum(ibi)).astype(np.int64)
    expected[200:] += 60_000
    assert np.abs(rec.epoch_ms - expected).max() <= 1  # each beat at the end of its interval, the hole kept
    raw = HrvConfig(cleaning=CleaningConfig(correct=False))  # the gap rule alone
    hour = compute_windows(rec.epoch_ms, rec.ibi_ms, "1h", raw).iloc[0]
    d = np.diff(ibi)
    assert hour["rmssd_ms"] == pytest.approx(np.sqrt(np.mean(np.delete(d, 199) ** 2)))  # none across the hole


@pytest.mark.parametrize("mean_rr", [800.0, 1000.0])
def test_a_polar_index_field_is_not_a_time_and_the_beats_are_laid_end_to_end(tmp_path, mean_rr):
    """At 60 bpm with little variability an index's steps of 1 match the intervals (in seconds) within the gap
    tolerance; a field of equal steps is still an index (review of the change, L1)."""
    ibi = mean_rr + np.array([(-6.0, 0.0, 6.0)[k % 3] for k in range(60)])
    text = "RR export\nindex\tRR\n" + "".join(f"{k + 1}\t{v:g}\n" for k, v in enumerate(ibi))
    rec = read_rr(write(tmp_path, "indexed.txt", text), ReadOptions(fmt="polar", start=T0_ISO))
    assert rec.epoch_ms.tolist() == (T0 + np.cumsum(ibi).astype(np.int64)).tolist()


def test_a_time_field_in_minutes_is_not_used_and_the_reading_says_so(tmp_path):
    """A time field whose steps match the intervals neither in seconds nor in ms (here minutes) cannot place the
    beats: they are laid end to end and a hole is lost, so the recording says why (attack review L1); an index
    field says nothing."""
    rng = np.random.default_rng(1)
    ibi = np.round(900 + rng.normal(0, 40, 200))
    minutes = np.cumsum(ibi) / 60_000.0
    text = "Time(min)\tRR(ms)\n" + "".join(f"{m:.5f}\t{v:g}\n" for m, v in zip(minutes, ibi, strict=True))
    rec = read_rr(write(tmp_path, "minutes.txt", text), ReadOptions(fmt="polar", start=T0_ISO))
    assert rec.unused_times is not None and "do not match the intervals" in rec.unused_times
    indexed = "RR export\nindex\tRR\n" + "".join(f"{k + 1}\t{v:g}\n" for k, v in enumerate(ibi))
    assert read_rr(write(tmp_path, "indexed.txt", indexed), ReadOptions(fmt="polar", start=T0_ISO)).unused_times is None


APPLE = """<?xml version="1.0" encoding="UTF-8"?>
<HealthData locale="en_US">
 <Record type="HKQuantityTypeIdentifierHeartRate" unit="count/min" startDate="2026-11-10 04:00:00 +0100" value="60"/>
 <Record type="HKQuantityTypeIdentifierHeartRateVariabilitySDNN" unit="ms" startDate="2026-11-10 04:00:00 +0100"
   endDate="2026-11-10 04:01:00 +0100" value="48.5">
  <HeartRateVariabilityMetadataList>
   <InstantaneousBeatsPerMinute bpm="60" time="4:00:01.00 AM"/>
   <InstantaneousBeatsPerMinute bpm="75" time="4:00:01.80 AM"/>
   <InstantaneousBeatsPerMinute bpm="66" time="4:00:02.71 AM"/>
  </HeartRateVariabilityMetadataList>
 </Record>
 <Record type="HKQuantityTypeIdentifierHeartRateVariabilitySDNN" unit="ms" startDate="2026-11-10 08:00:00 +0000"
   endDate="2026-11-10 08:01:00 +0000" value="52.25"/>
</HealthData>
"""


def test_apple_health_beats_where_present_and_sdnn_kept_as_sdnn(tmp_path):
    rec = read_rr(write(tmp_path, "export.xml", APPLE))
    assert rec.format == "apple-health"
    assert rec.epoch_ms.tolist() == [T0 + 1800, T0 + 2710]  # 04:00 +01:00 is 03:00 UTC
    assert rec.ibi_ms.tolist() == [800.0, 910.0]
    assert rec.sdnn["time_ms"].tolist() == [T0 + 5 * 3_600_000]
    assert rec.sdnn["sdnn_ms"].tolist() == [52.25]


def test_truncated_apple_export_is_an_error_with_a_line(tmp_path):
    path = write(tmp_path, "export.xml", APPLE[: APPLE.index("</HeartRateVariabilityMetadataList>")])
    with pytest.raises(BadRRFile, match="truncated") as err:
        read_rr(path)
    assert err.value.line is not None and str(path) in str(err.value)


# -- real fixtures --------------------------------------------------------------------------------------


@pytest.mark.realdata
@pytest.mark.parametrize(
    "name,fmt,n",
    [
        ("mmash_user_1_RR_first2000beats.csv", "mmash", 2000),
        ("nsr001_rr_secs_first3000.txt", "physionet", 2999),
        ("stress_predict_S06_IBI.csv", "e4", 3128),
    ],
)
def test_real_fixtures_are_detected_and_read(data_dir, name, fmt, n):
    rec = read_rr(data_dir / "fixtures" / name, ReadOptions(start="2020-03-02T00:00:00Z", start_date="2020-03-02"))
    assert rec.format == fmt and rec.ibi_ms.size == n and rec.skipped_lines == 0
    assert np.all(np.diff(rec.epoch_ms) >= 0)


@pytest.mark.realdata
def test_every_shared_nsr2db_recording_reads_whole_with_its_gaps(data_dir):
    # nsr2db writes a recording gap as one long interval (up to 570 s): each is a gap, never a bad line, and the
    # beats keep the recording's elapsed time (first line: the offset of the first beat)
    files = sorted((data_dir / "nsr2db").glob("nsr*_rr_secs.txt"))
    assert files, "no nsr2db recordings in the shared data"
    for path in files:
        values = np.loadtxt(path)
        rec = read_rr(path, ReadOptions(fmt="physionet", start="2000-01-03T09:00:00Z"))
        assert rec.skipped_lines == 0 and rec.ibi_ms.size == values.size - 1, path.name
        elapsed_ms = (rec.epoch_ms[-1] - rec.epoch_ms[0]) + rec.ibi_ms[0]
        assert abs(elapsed_ms - values[1:].sum() * 1000) < 1.0 * values.size, path.name


# -- bad input ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,text,line,problem",
    [
        ("rr.txt", "812\n790\nabc\n805\n", 3, "not a number"),
        ("rr.txt", "812\n-790\n805\n", 2, "positive"),
        ("u.csv", "timestamp,rr_ms\n2026-11-10T03:00:01Z,800\n2026-11-10T03:00:00Z,800\n", 3, "backwards"),
        ("u.csv", "timestamp,rr_ms\n2026-11-10T03:00:01Z,800\nyesterday,800\n", 3, "ISO 8601"),
        (
            "u.csv",
            "timestamp,rr_ms\n2026-11-10T03:00:01Z,800\n2026-11-10T03:00:02Z,8e9\n2026-11-10T03:00:03Z,800\n",
            3,
            "positive",
        ),
    ],
)
def test_bad_lines_are_named_and_can_be_skipped(tmp_path, name, text, line, problem):
    path = write(tmp_path, name, text)
    with pytest.raises(BadRRFile, match=problem) as err:
        read_rr(path, ReadOptions(start=T0_ISO))
    assert err.value.line == line and str(path) in err.value.message
    rec = read_rr(path, ReadOptions(start=T0_ISO, skip_bad_lines=True))
    assert rec.skipped_lines == 1


@pytest.mark.parametrize(
    "text,units,match",
    [
        ("", None, "empty"),
        ("812000\n790000\n", None, "median"),  # microseconds are not ms
        ("812\n790\n", "s", "median"),  # wrong --units
    ],
)
def test_empty_or_wrong_units(tmp_path, text, units, match):
    with pytest.raises(BadRRFile, match=match):
        read_rr(write(tmp_path, "rr.txt", text), ReadOptions(fmt="plain" if text else "auto", units=units))


def test_unknown_format(tmp_path):
    with pytest.raises(UnknownFormat, match="pass --format"):
        detect_format(write(tmp_path, "x.txt", "hello,world\nfoo,bar\n"))
    with pytest.raises(UnknownFormat, match="one of"):
        read_rr(write(tmp_path, "y.txt", "812\n"), ReadOptions(fmt="garmin"))
    assert set(FORMATS) == {"plain", "csv", "mmash", "physionet", "e4", "welltory", "polar", "apple-health"}


@pytest.mark.parametrize(
    ("text", "fmt"),
    [
        ("0,812\n0,830\n1,023\n0,790\n0,845\n", "plain"),
        ("Kubios RR export\nRR (s)\n0,812\n0,830\n1,023\n0,790\n0,845\n", "polar"),
    ],
)
def test_decimal_commas_are_read_as_decimals_not_as_two_fields(tmp_path, text, fmt):
    path = tmp_path / "rr.txt"
    path.write_text(text)
    rec = read_rr(path, ReadOptions(start="2026-01-01T00:00:00Z"))
    assert rec.format == fmt
    assert rec.ibi_ms == pytest.approx([812.0, 830.0, 1023.0, 790.0, 845.0])  # 1,023 s is 1023 ms, not 23 ms


def test_epoch_seconds_and_epoch_milliseconds_give_the_same_beats(tmp_path):
    rr = [812, 830, 1023, 790]
    t_ms = [1_704_067_200_000 + sum(rr[: i + 1]) for i in range(len(rr))]  # 2024-01-01T00:00:00Z + cumulative
    seconds, millis = tmp_path / "s.csv", tmp_path / "ms.csv"
    seconds.write_text("timestamp,rr_ms\n" + "".join(f"{t / 1000:.3f},{r}\n" for t, r in zip(t_ms, rr, strict=True)))
    millis.write_text("timestamp,rr_ms\n" + "".join(f"{t},{r}\n" for t, r in zip(t_ms, rr, strict=True)))
    a, b = read_rr(seconds), read_rr(millis)
    assert b.epoch_ms.tolist() == t_ms
    assert a.epoch_ms.tolist() == t_ms  # not 1970-01-20, which reading seconds as ms would give


@pytest.mark.parametrize("fmt", ["plain", "polar"])
def test_a_16_bit_no_interval_value_in_a_clockless_file_is_a_bad_line_not_65_seconds(tmp_path, fmt):
    header = "Polar RR export\nRR (ms)\n" if fmt == "polar" else ""
    path = write(tmp_path, f"{fmt}.txt", header + "800\n810\n65535\n790\n800\n")
    with pytest.raises(BadRRFile) as info:
        read_rr(path, ReadOptions(fmt=fmt, start="2026-11-10T07:00:00Z"))
    assert "line" in info.value.message and "0xFFFF" in info.value.message
    rec = read_rr(path, ReadOptions(fmt=fmt, start="2026-11-10T07:00:00Z", skip_bad_lines=True))
    assert rec.ibi_ms.tolist() == [800, 810, 790, 800] and rec.skipped_lines == 1
    assert rec.epoch_ms[-1] - rec.epoch_ms[0] == 810 + 790 + 800  # no 65.5 s of time that never passed


def test_times_in_whole_seconds_are_named_as_the_cause(tmp_path):
    rows = ["timestamp,rr_ms"] + [f"2026-11-10T07:00:{s:02d}Z,{rr}" for s, rr in [(1, 800), (1, 810), (2, 790)]]
    with pytest.raises(BadRRFile) as info:
        read_rr(write(tmp_path, "seconds.csv", "\n".join(rows) + "\n"))
    assert "whole seconds" in info.value.message and "milliseconds" in info.value.message


@pytest.mark.parametrize(
    ("lines", "advice"),
    [
        ("00:00:00.853\t853\n00:00:01.700\t847\n", "export the time column in seconds"),  # Kubios hh:mm:ss times
        ("0.853\t853\n1.700\t847\n0.900\t900\n", "split it and ingest each with its own --start"),  # times restart
    ],
)
def test_a_time_field_that_cannot_be_read_gets_advice_that_keeps_the_recordings_holes(tmp_path, lines, advice):
    """ "write one interval per line" was the advice for both: following it loses the hole (attack review L2)."""
    path = write(tmp_path, "k.txt", "Time\tRR\n" + lines)
    with pytest.raises(BadRRFile, match=advice):
        read_rr(path, ReadOptions(fmt="polar", start=T0_ISO))
