"""Covariate readers (model/covariates.py): sleep episodes and hourly activity, checked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from model.errors import BadRRFile
from model.io import ReadOptions, covariates

DAY1 = 1_583_107_200_000  # 2020-03-02T00:00:00Z
H = 3_600_000
MMASH_SLEEP_HEADER = (
    ",In Bed Date,In Bed Time,Out Bed Date,Out Bed Time,Onset Date,Onset Time,Latency,Efficiency,"
    "Total Minutes in Bed,Total Sleep Time (TST),Wake After Sleep Onset (WASO),Number of Awakenings,"
    "Average Awakening Length,Movement Index,Fragmentation Index,Sleep Fragmentation Index\n"
)


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_mmash_sleep_from_onset_to_out_of_bed_with_the_day_label_quirk(tmp_path):
    path = write(
        tmp_path,
        "sleep.csv",
        MMASH_SLEEP_HEADER
        + "0,2,00:46,2,03:31,2,00:46,0,87.27,165,144,21,9,2.33,9.09,10,19.09\n"
        + "1,1,23:41,1,05:04,1,23:41,0,76.47,323,247,76,19,4,17.96,15.79,33.75\n",  # wakes "day 1" 05:04
    )
    sleep = covariates.read_sleep(path, ReadOptions(start_date="2020-03-02"))  # MMASH detected from the header
    assert sleep["start"].tolist() == [DAY1 + 23 * H + 41 * 60_000, DAY1 + 24 * H + 46 * 60_000]
    assert sleep["end"].tolist() == [DAY1 + 29 * H + 4 * 60_000, DAY1 + 27 * H + 31 * 60_000]
    assert sleep["duration_min"].tolist() == [247.0, 144.0]  # total sleep time, not time in bed


def test_mmash_sleep_with_header_only_is_empty(tmp_path):
    assert covariates.read_sleep(
        write(tmp_path, "sleep.csv", MMASH_SLEEP_HEADER), ReadOptions(start_date="2020-03-02")
    ).empty


def test_generic_sleep(tmp_path):
    path = write(tmp_path, "u.sleep.csv", "start,end\n2020-03-02T23:00:00Z,2020-03-03T06:30:00.000Z\n")
    sleep = covariates.read_sleep(path)
    assert sleep.iloc[0].tolist() == [DAY1 + 23 * H, DAY1 + 30 * H + 30 * 60_000, 450.0]


def test_mmash_actigraph_hourly_steps_sum_and_mean_heart_rate(tmp_path):
    rows = [
        "0,0,0,0,2,60.0,0,1,0,0,0.0,1,10:59:58",
        "1,0,0,0,3,70.0,0,1,0,0,0.0,1,10:59:59",
        "2,0,0,0,1,0,0,1,0,0,0.0,1,11:00:00",  # HR 0: no reading
        "3,0,0,0,0,90.0,0,1,0,0,0.0,-29,00:00:01",  # day -29 is day 2
    ]
    header = (
        ",Axis1,Axis2,Axis3,Steps,HR,Inclinometer Off,Inclinometer Standing,Inclinometer Sitting,"
        "Inclinometer Lying,Vector Magnitude,day,time\n"
    )
    act = covariates.read_mmash_actigraph(
        write(tmp_path, "Actigraph.csv", header + "\n".join(rows) + "\n"), ReadOptions(start_date="2020-03-02")
    )
    assert act["time"].tolist() == [DAY1 + 10 * H, DAY1 + 11 * H, DAY1 + 24 * H]
    assert act["steps"].tolist() == [5.0, 1.0, 0.0]
    assert act["heart_rate_bpm"].iloc[0] == 65.0 and np.isnan(act["heart_rate_bpm"].iloc[1])
    assert act["heart_rate_bpm"].iloc[2] == 90.0


def test_generic_activity_and_its_errors(tmp_path):
    path = write(tmp_path, "a.csv", "time,steps,heart_rate_bpm\n2020-03-02T10:00:00Z,10,60\n2020-03-02T10:30:00Z,5,\n")
    act = covariates.read_activity_csv(path)
    assert act.iloc[0].tolist() == [DAY1 + 10 * H, 15.0, 60.0]
    bad = write(tmp_path, "b.csv", "time,steps,heart_rate_bpm\n2020-03-02T10:00:00Z,ten,60\n")
    with pytest.raises(BadRRFile) as err:
        covariates.read_activity_csv(bad)
    assert err.value.line == 2
    assert covariates.read_activity_csv(bad, ReadOptions(skip_bad_lines=True)).empty


@pytest.mark.realdata
def test_every_mmash_sleep_file_reads(data_dir):
    for folder in sorted((data_dir / "mmash/DataPaper").iterdir()):
        sleep = covariates.read_sleep(folder / "sleep.csv", ReadOptions(start_date="2020-03-02"))
        assert ((sleep["end"] - sleep["start"]) / 60_000 >= sleep["duration_min"]).all(), folder.name


def test_an_actigraph_samples_outside_the_heart_rate_range_are_no_reading_but_negative_ones_are_errors(tmp_path):
    """A 1 Hz ActiGraph stream has dropouts such as 19 bpm (8 of the 17 shared MMASH recordings do): they are
    no reading, like its 0, so the hour's mean comes from the plausible samples; a negative HR is still refused."""
    header = (
        ",Axis1,Axis2,Axis3,Steps,HR,Inclinometer Off,Inclinometer Standing,Inclinometer Sitting,"
        "Inclinometer Lying,Vector Magnitude,day,time\n"
    )
    rows = ["0,0,0,0,1,60.0,0,1,0,0,0.0,1,10:00:00", "1,0,0,0,1,19.0,0,1,0,0,0.0,1,10:00:01",
            "2,0,0,0,1,400,0,1,0,0,0.0,1,10:00:02", "3,0,0,0,1,70.0,0,1,0,0,0.0,1,10:00:03"]  # fmt: skip
    act = covariates.read_mmash_actigraph(
        write(tmp_path, "Actigraph.csv", header + "\n".join(rows) + "\n"), ReadOptions(start_date="2020-03-02")
    )
    assert act["heart_rate_bpm"].tolist() == [65.0] and act["steps"].tolist() == [4.0]
    negative = write(tmp_path, "neg.csv", header + "0,0,0,0,1,-45,0,1,0,0,0.0,1,10:00:00\n")
    with pytest.raises(BadRRFile, match="heart rate from 20 to 300 bpm"):
        covariates.read_mmash_actigraph(negative, ReadOptions(start_date="2020-03-02"))


def test_a_plain_start_end_sleep_file_reads_whatever_its_milliseconds(tmp_path):
    # These times (from a demo user's file) made (end - start) / 60,000 minutes come back a hair above the
    # episode's length in floating point, and the file was refused: `make run` failed on such a night.
    rows = ["2026-11-29T21:55:10.282Z,2026-11-30T06:04:19.210Z", "2026-11-30T22:10:09.899Z,2026-12-01T07:05:53.112Z"]
    path = tmp_path / "sleep.csv"
    path.write_text("start,end\n" + "\n".join(rows) + "\n")
    episodes = covariates.read_sleep(path)
    assert len(episodes) == 2
    assert np.all(episodes["duration_min"] * 60_000 <= episodes["end"] - episodes["start"] + 1.0)
    assert episodes["duration_min"].iloc[1] == pytest.approx(535.72, abs=0.01)
