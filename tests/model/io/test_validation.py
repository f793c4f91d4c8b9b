"""Malformed files that were once accepted or crashed (issue 15): each is refused with one error naming the file,
the line and the fix; nothing of it is read as something else."""

from __future__ import annotations

import numpy as np
import pytest

from model.errors import BadRRFile
from model.io import ReadOptions, covariates, read_rr

START = "2026-11-10T00:00:00Z"
HEADER = "timestamp,rr_ms\n"
APPLE_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n<HealthData locale="en_US">\n'
SDNN = '<Record type="HKQuantityTypeIdentifierHeartRateVariabilitySDNN" startDate="2026-11-10 04:00:00 +0100"'


def write(tmp_path, name: str, content: str | bytes):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


CASES = [
    # (file name, content, options, line, words the message must hold)
    ("epoch.csv", HEADER + "1794279600000,800\n1e20,800\n", {}, 3, "outside"),
    ("epoch-14.csv", HEADER + "1794279600000,800\n100000000000000,800\n", {}, 3, "outside"),
    ("e4.csv", "1e300, IBI\n1.0,0.8\n", {"fmt": "e4"}, 1, "outside"),
    ("nsr.txt", "1e300\n0.8\n0.8\n", {"fmt": "physionet", "start": START}, 1, "start offset"),
    ("y1700.csv", HEADER + "1700-01-01T00:00:00Z,800\n", {}, 2, "outside"),
    ("y5138.csv", HEADER + "5138-01-01T00:00:00Z,800\n", {}, 2, "outside"),
    ("y33658.csv", HEADER + "33658-01-01T00:00:00Z,800\n", {}, 2, "not ISO 8601"),
    ("mixed.txt", "812\n790\n0.812\n805\n", {"start": START}, 3, "looks like seconds in a file of milliseconds"),
    ("mixed-s.txt", "0.812\n0.790\n812\n0.805\n", {"start": START}, 3, "looks like milliseconds in a file of seconds"),
    ("tiny.csv", HEADER + "2026-11-10T03:00:00Z,1e-300\n2026-11-10T03:00:01Z,800\n", {}, 2, "from 20 ms to 1 hour"),
    ("sep.txt", "812\n8_12\n805\n", {"start": START}, 2, "digit separators"),
    ("fullwidth.txt", "812\n８１２\n805\n", {"start": START}, 2, "non-ASCII"),
    ("fullwidth.csv", HEADER + "2026-11-10T03:00:00Z,８１２\n", {}, 2, "non-ASCII"),
    ("semicolons.txt", "812;790;805;801;799\n812;790;805;801;799\n", {"fmt": "plain", "start": START}, 1, "5 values"),
    ("semicolons-polar.txt", "812;790;805;801;799\n", {"fmt": "polar", "start": START}, 1, "5 values"),
    ("semicolons.csv", "timestamp;rr_ms\n2026-11-10T03:00:00Z;800\n", {}, 1, "separated by semicolons"),
    ("nan.txt", "812\nnan\n805\n", {"start": START}, 2, "'nan' is not a number"),
    ("inf.csv", HEADER + "2026-11-10T03:00:00Z,inf\n", {}, 2, "'inf' is not a number"),
    ("conflict.csv", HEADER + "2026-11-10T03:00:00Z,800\n2026-11-10T03:00:00Z,810\n", {}, 3, "a beat has one interval"),
    ("extra.csv", HEADER + "2026-11-10T03:00:00Z,800\n2026-11-10T03:00:01Z,800,9\n", {}, 3, "more fields"),
    ("extra-first.csv", HEADER + "2026-11-10T03:00:00Z,800,9\n", {}, 2, "more fields"),
    ("latin1.csv", HEADER.encode() + b"2026-11-10T03:00:00Z,800\n2026-11-10T03:00:01Z,8\xe900\n", {}, 3, "not UTF-8"),
    ("latin1.txt", b"812\n790\n\xff\n", {"start": START}, 3, "not UTF-8"),
    ("mmash.csv", ",ibi_s,day,time\n1,0.8,1,10:00:00\n2,0.8,1,99:99:99\n", {"start_date": "2020-03-02"}, 3, "HH:MM:SS"),
    (
        "mmash-latin1.csv",
        b",ibi_s,day,time\n1,0.8,1,10:00:00\n2,0.8\xe9,1,10:00:01\n",
        {"fmt": "mmash", "start_date": "2020-03-02"},
        3,
        "not UTF-8",
    ),
    (
        "welltory-latin1.csv",
        b'"measurement_datetime","rr_data"\n"2026-11-10 03:00:00","800,810\xe9"\n',
        {"fmt": "welltory"},
        2,
        "not UTF-8",
    ),
    ("e4-latin1.csv", b"1644831900.0, IBI\n15.9,0.8\xe9\n", {"fmt": "e4"}, 2, "not UTF-8"),
    (
        "clock.xml",
        APPLE_HEAD + SDNN + ' value="48.5">\n<HeartRateVariabilityMetadataList>\n'
        '<InstantaneousBeatsPerMinute bpm="60" time="4:00:01.00 AM"/>\n'
        '<InstantaneousBeatsPerMinute bpm="60" time="99:99:99.99"/>\n'
        "</HeartRateVariabilityMetadataList>\n</Record>\n</HealthData>\n",
        {},
        6,
        "not a time of day",
    ),
]
for value in ("NaN", "inf", "-45"):
    CASES.append((f"sdnn-{value}.xml", APPLE_HEAD + SDNN + f' value="{value}"/>\n</HealthData>\n', {}, 3, "SDNN value"))


@pytest.mark.parametrize(("name", "content", "options", "line", "words"), CASES, ids=[c[0] for c in CASES])
def test_a_malformed_file_is_refused_naming_the_line(tmp_path, name, content, options, line, words):
    path = write(tmp_path, name, content)
    with pytest.raises(BadRRFile) as err:
        read_rr(path, ReadOptions(**options))
    assert err.value.line == line
    assert words in err.value.message and str(path) in err.value.message
    assert "\n" not in err.value.message


def test_the_start_is_checked_like_every_time(tmp_path):
    path = write(tmp_path, "rr.txt", "812\n790\n")
    for start in ("2500-01-01T00:00:00Z", "1960-01-01T00:00:00Z"):
        with pytest.raises(BadRRFile, match=r"start .* is outside .*pass --any-time"):
            read_rr(path, ReadOptions(start=start))
    with pytest.raises(BadRRFile, match="every store keeps times from 1970 to 2099"):
        read_rr(path, ReadOptions(start="2500-01-01T00:00:00Z", any_time=True))
    assert read_rr(path, ReadOptions(start="1985-06-01T00:00:00Z", any_time=True)).epoch_ms[0] == 486_432_000_812
    mmash = write(tmp_path, "RR.csv", ",ibi_s,day,time\n1,0.8,1,10:00:00\n")
    with pytest.raises(BadRRFile, match="start date 9999-12-31"):
        read_rr(mmash, ReadOptions(start_date="9999-12-31"))


def test_identical_repeats_are_merged_and_counted_never_collapsed_silently(tmp_path):
    path = write(tmp_path, "dup.csv", HEADER + "2026-11-10T03:00:00Z,800\n" * 2000 + "2026-11-10T03:00:01Z,800\n")
    rec = read_rr(path)
    assert rec.epoch_ms.size == 2 and rec.duplicates == 1999
    skipped = read_rr(
        write(tmp_path, "c.csv", HEADER + "2026-11-10T03:00:00Z,800\n2026-11-10T03:00:00Z,810\n"),
        ReadOptions(skip_bad_lines=True),
    )
    assert skipped.ibi_ms.tolist() == [800.0] and skipped.skipped_lines == 1


def test_a_long_gap_in_a_file_of_seconds_is_kept_as_a_gap(tmp_path):
    # clockless files write a recording gap as one long interval: 150 s and 570 s are gaps, not milliseconds
    path = write(tmp_path, "gap.txt", "0.812\n0.790\n150\n0.805\n0.801\n570.5\n0.799\n")
    rec = read_rr(path, ReadOptions(start=START))
    assert rec.ibi_ms.tolist() == [812.0, 790.0, 150_000.0, 805.0, 801.0, 570_500.0, 799.0]


def test_explicit_units_allow_what_guessed_units_refuse(tmp_path):
    path = write(tmp_path, "odd.txt", "0.812\n0.790\n801\n0.805\n")  # 801 s, or a beat of 801 ms?
    with pytest.raises(BadRRFile, match="looks like milliseconds"):
        read_rr(path, ReadOptions(start=START))
    assert read_rr(path, ReadOptions(start=START, units="s")).ibi_ms.tolist() == [812.0, 790.0, 801_000.0, 805.0]
    run = write(tmp_path, "run.txt", "0.812\n0.790\n" + "805\n" * 12 + "0.801\n" * 20)  # a run of millisecond beats
    with pytest.raises(BadRRFile, match="interval 805 looks like milliseconds") as err:
        read_rr(run, ReadOptions(start=START))
    assert err.value.line == 3


def test_polar_time_and_interval_columns_but_no_more(tmp_path):
    rec = read_rr(write(tmp_path, "k.txt", "Kubios\ntime,RR\n0.8,800\n1.6,810\n"), ReadOptions("polar", START))
    assert rec.format == "polar" and rec.ibi_ms.tolist() == [800.0, 810.0]
    with pytest.raises(BadRRFile, match="not a time") as err:
        read_rr(write(tmp_path, "p.txt", "RR\n812;790\n805;801\n"), ReadOptions(fmt="polar", start=START))
    assert err.value.line == 3


def test_long_plain_files_keep_exact_line_numbers_and_sums(tmp_path):
    """Across read chunks: blank lines, the line named in an error, and the beat times laid end to end."""
    values = np.tile(np.array([812.0, 790.5, 805.25]), 700_000)
    text = "\n".join(f"{v:g}" for v in values[:1_000_000]) + "\n\n" + "\n".join(f"{v:g}" for v in values[1_000_000:])
    path = write(tmp_path, "long.txt", text + "\n")
    rec = read_rr(path, ReadOptions(start=START))
    assert rec.ibi_ms.size == values.size
    assert rec.epoch_ms[-1] == 1_794_268_800_000 + round(float(np.cumsum(values)[-1]))
    path.write_text(text + "\nabc\n")
    with pytest.raises(BadRRFile) as err:
        read_rr(path, ReadOptions(start=START))
    assert err.value.line == values.size + 2  # one blank line in the middle


@pytest.mark.parametrize(
    ("reader", "name", "text", "words"),
    [
        ("read_sleep", "s.csv", "start,end\n2026-11-10T00:00:00Z,2026-11-12T00:00:00Z\n", "more than a day"),
        ("read_sleep", "s.csv", "start,end\n1700-11-10T00:00:00Z,1700-11-10T06:00:00Z\n", "outside"),
        ("read_activity_csv", "a.csv", "time,steps,heart_rate_bpm\n2026-11-10T00:00:00Z,-45,60\n", "steps"),
        ("read_activity_csv", "a.csv", "time,steps,heart_rate_bpm\n2026-11-10T00:00:00Z,10,inf\n", "heart rate"),
        ("read_activity_csv", "a.csv", "time,steps,heart_rate_bpm\n2026-11-10T00:00:00Z,1_000,60\n", "steps"),
    ],
)
def test_covariates_refuse_impossible_values(tmp_path, reader, name, text, words):
    with pytest.raises(BadRRFile, match=words) as err:
        getattr(covariates, reader)(write(tmp_path, name, text))
    assert err.value.line == 2


def test_covariate_files_that_are_missing_directories_or_not_utf8(tmp_path):
    with pytest.raises(BadRRFile, match="does not exist"):
        covariates.read_sleep(tmp_path / "missing.csv")
    with pytest.raises(BadRRFile, match="is a directory"):
        covariates.read_activity_csv(tmp_path)
    with pytest.raises(BadRRFile, match="not UTF-8") as err:
        covariates.read_sleep(write(tmp_path, "s.csv", b"start,end\n2026-11-10T00:00:00Z,\xff\n"))
    assert err.value.line == 2


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("fmt", ["auto", "csv"])
def test_a_utf16_file_is_named_as_utf16_with_the_command_that_converts_it(tmp_path, encoding, fmt):
    """A Windows export in UTF-16 read as 'mojibake' (auto) or 'not UTF-8 ... iconv -f latin1' (csv): both wrong."""
    path = tmp_path / "rr.csv"
    path.write_bytes("timestamp,rr_ms\n2026-11-10T03:00:00Z,800\n2026-11-10T03:00:01Z,810\n".encode(encoding))
    with pytest.raises(BadRRFile, match=r"the file is UTF-16 text, not UTF-8 .*iconv -f utf-16 -t utf-8"):
        read_rr(path, ReadOptions(fmt=fmt))


def test_a_file_of_beat_times_is_named_as_such(tmp_path):
    """A beats file (``a01.beats.txt``: each beat's time in seconds) is not a file of intervals; the message says
    so instead of pointing at --units alone (HRV review L3)."""
    times = np.cumsum(np.full(40, 0.85))
    path = write(tmp_path, "a01.beats.txt", "".join(f"{t:.3f}\n" for t in times))
    with pytest.raises(BadRRFile, match="look like beat times, not intervals: write the differences"):
        read_rr(path, ReadOptions(start=START))
    intervals = write(tmp_path, "slow.txt", "".join(f"{v}\n" for v in [5000, 4000, 6000, 5000]))
    with pytest.raises(BadRRFile, match=r"not a heart beat \(check --units \(ms or s\)\)"):
        read_rr(intervals, ReadOptions(start=START))  # not growing: the units hint stays
