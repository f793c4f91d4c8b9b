"""Times that mark the beat starting each interval (a common export convention) give the same HRV as end stamps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from model.hrv.windows import compute_windows
from model.io import ReadOptions, read_rr

START = "2026-11-10T10:00:00Z"


@pytest.fixture
def real_hour(data_dir):
    """One clean hour of a real recording (nsr2db nsr004, from 10:00), with its clock given."""
    rec = read_rr(data_dir / "nsr2db" / "nsr004_rr_secs.txt", ReadOptions(start=START))
    keep = (rec.epoch_ms >= rec.epoch_ms[0] + 10 * 3_600_000) & (rec.epoch_ms < rec.epoch_ms[0] + 11 * 3_600_000)
    return rec.epoch_ms[keep], rec.ibi_ms[keep]


def _csv(path, times, ibi):
    pd.DataFrame({"timestamp": times, "rr_ms": np.round(ibi).astype(int)}).to_csv(path, index=False)
    return path


def test_a_file_stamped_at_each_intervals_start_reads_as_the_same_hour(tmp_path, real_hour):
    t_end, ibi = real_hour
    ibi = np.round(ibi)
    t_end = t_end[0] + np.concatenate(([0], np.cumsum(ibi[1:]))).astype(np.int64)  # a gapless chain, end stamps
    t_start = t_end - ibi.astype(np.int64)
    ends = read_rr(_csv(tmp_path / "end.csv", t_end, ibi))
    starts = read_rr(_csv(tmp_path / "start.csv", t_start, ibi))
    assert not ends.restamped and starts.restamped  # the CLI says so on stderr
    assert starts.epoch_ms.tolist() == ends.epoch_ms.tolist()
    got = {name: compute_windows(r.epoch_ms, r.ibi_ms, "1h") for name, r in (("end", ends), ("start", starts))}
    rmssd_end, rmssd_start = (got[k]["rmssd_ms"].to_numpy() for k in ("end", "start"))
    assert np.allclose(rmssd_start, rmssd_end)
    # the figure a person of this recording has (34 ms), not one bounded by the 10 ms gap rule
    assert np.nanmax(rmssd_end) > 15


@pytest.mark.parametrize("sd_ms", [4.0, 6.0, 8.0, 12.0])
def test_start_stamps_are_found_for_people_with_low_hrv(tmp_path, sd_ms):
    """Most successive differences of a low-HRV person are under 10 ms: they match both conventions and tell
    nothing. The RMSSD the product flags red must not read 25-40 % lower because of the file's stamps."""
    rng = np.random.default_rng(int(sd_ms))
    ibi = np.round(900.0 + np.cumsum(rng.normal(0.0, sd_ms, 4000)) * 0.05 + rng.normal(0.0, sd_ms, 4000))
    t_end = 1_794_000_000_000 + np.cumsum(ibi).astype(np.int64)
    ends = read_rr(_csv(tmp_path / "end.csv", t_end, ibi))
    starts = read_rr(_csv(tmp_path / "start.csv", t_end - ibi.astype(np.int64), ibi))
    assert not ends.restamped and starts.restamped
    rmssd = [compute_windows(r.epoch_ms, r.ibi_ms, "1h")["rmssd_ms"].to_numpy() for r in (ends, starts)]
    assert np.allclose(rmssd[0], rmssd[1])


def test_a_corrupt_interval_in_a_start_stamped_file_leaves_the_beats_in_order(tmp_path, real_hour):
    t_end, ibi = real_hour
    ibi = np.round(ibi)
    t_end = t_end[0] + np.concatenate(([0], np.cumsum(ibi[1:]))).astype(np.int64)
    t_start = t_end - ibi.astype(np.int64)
    ibi[500] = 2500.0  # one corrupt interval: restamped, its beat would pass the next ones
    rec = read_rr(_csv(tmp_path / "corrupt.csv", t_start, ibi), ReadOptions(skip_bad_lines=True))
    assert rec.restamped and np.all(np.diff(rec.epoch_ms) > 0)


def test_even_intervals_and_short_files_are_left_as_they_are(tmp_path):
    t = 1_794_000_000_000 + np.arange(1, 41) * 1000
    assert not read_rr(_csv(tmp_path / "short.csv", t, np.full(40, 1000.0))).restamped  # too few pairs to tell
    t = 1_794_000_000_000 + np.arange(1, 401) * 800
    assert not read_rr(_csv(tmp_path / "even.csv", t, np.full(400, 800.0))).restamped  # both read the same
