"""Validation on the real recordings in ../shared/data (see each dataset's SOURCE.md).

- hourly RMSSD, SDNN and pNN50 against neurokit2's ``hrv_time`` on the same cleaned intervals (within 1 %);
- Welltory readings' RMSSD against the file's own ``rmssd`` column;
- MMASH: how much gap handling changes RMSSD compared with the naive computation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from model.hrv.cleaning import CleaningConfig, clean_beats
from model.hrv.windows import HrvConfig, compute_windows
from model.io import ReadOptions, read_rr

pytestmark = pytest.mark.realdata
HOUR_MS = 3_600_000


def _neurokit_hour(epoch_ms: np.ndarray, ibi_ms: np.ndarray) -> tuple[float, float, float]:
    """RMSSD, SDNN and pNN50 from neurokit2 for one hour of cleaned intervals (its gap-aware mode)."""
    import neurokit2 as nk

    out = nk.hrv_time({"RRI": ibi_ms, "RRI_Time": epoch_ms / 1000.0})
    t_s = epoch_ms / 1000.0
    # neurokit2 divides NN50 by (differences + 1); the pNN50 divides by the differences. Count them
    # as neurokit2 does (a difference is successive when the clock advanced by the interval, 10 ms slack).
    n_diffs = int(np.sum(np.abs(np.diff(t_s) * 1000 - ibi_ms[1:]) <= 10))
    pnn50 = float(out["HRV_pNN50"].iloc[0]) * (n_diffs + 1) / n_diffs
    return float(out["HRV_RMSSD"].iloc[0]), float(out["HRV_SDNN"].iloc[0]), pnn50


@pytest.mark.parametrize(
    "relpath,kwargs",
    [
        ("mmash/DataPaper/user_1/RR.csv", {"start_date": "2020-03-02"}),
        ("mmash/DataPaper/user_2/RR.csv", {"start_date": "2020-03-02"}),
        ("nsr2db/nsr001_rr_secs.txt", {"fmt": "physionet", "start": "2000-01-03T09:00:00Z"}),
    ],
)
def test_hourly_values_match_neurokit2_on_clean_windows(data_dir, relpath, kwargs):
    rec = read_rr(data_dir / relpath, ReadOptions(**kwargs))
    windows = compute_windows(rec.epoch_ms, rec.ibi_ms, "1h")
    clean = clean_beats(rec.epoch_ms, rec.ibi_ms, CleaningConfig())
    hours = clean.epoch_ms // HOUR_MS
    checked = 0
    for row in windows[windows["valid"]].itertuples():
        inside = hours == row.start // HOUR_MS
        rmssd, sdnn, pnn50 = _neurokit_hour(clean.epoch_ms[inside], clean.ibi_ms[inside])
        assert row.rmssd_ms == pytest.approx(rmssd, rel=0.01)
        assert row.sdnn_ms == pytest.approx(sdnn, rel=0.01)
        assert row.pnn50 == pytest.approx(pnn50, rel=0.01, abs=1e-9)
        checked += 1
    assert checked >= 10  # most hours of a day-long recording are clean


def test_welltory_rmssd_matches_the_files_own_column(data_dir):
    frame = (
        pd.read_csv(
            data_dir / "welltory_covid19/hrv_measurements.csv", usecols=["rmssd", "rr_data"], dtype={"rr_data": str}
        )
        .dropna()
        .head(600)
    )
    compared = 0
    for reading in frame.itertuples():
        ibi = np.array([float(v) for v in reading.rr_data.split(",")])
        t = 1_577_872_800_000 + np.cumsum(ibi).astype(np.int64)  # 2020-01-01T10:00Z: one reading, one day
        day = compute_windows(t, ibi, "1d").iloc[0]
        if day["artifact_pct"] == 0:  # Welltory does not correct artifacts: compare readings that have none
            assert day["rmssd_ms"] == pytest.approx(reading.rmssd, rel=0.01)
            compared += 1
    assert compared >= 50


def test_mmash_gap_handling_lowers_rmssd_against_the_naive_computation(data_dir):
    """Differences across MMASH's logging gaps inflate RMSSD; the fixture's two clock hours show by how much."""
    rec = read_rr(data_dir / "fixtures/mmash_user_1_RR_day2_0100-0300.csv", ReadOptions(start_date="2020-03-02"))
    assert rec.ibi_ms.size == 2947 + 3389  # the fixture's SOURCE.md: beats in hour 01 and hour 02
    gap_only = compute_windows(rec.epoch_ms, rec.ibi_ms, "1h", HrvConfig(cleaning=CleaningConfig(correct=False)))
    full = compute_windows(rec.epoch_ms, rec.ibi_ms, "1h")
    hour = (rec.epoch_ms // HOUR_MS) - rec.epoch_ms[0] // HOUR_MS
    naive = [float(np.sqrt(np.mean(np.diff(rec.ibi_ms[hour == h]) ** 2))) for h in (0, 1)]
    # the fixture's SOURCE.md measured 92.4 and 68.8 ms naive, 83.2 and 66.7 ms without cross-gap pairs
    assert naive == pytest.approx([92.4, 68.8], abs=0.1)
    assert gap_only["rmssd_ms"].tolist() == pytest.approx([83.2, 66.7], abs=0.3)
    assert naive[0] / gap_only["rmssd_ms"].iloc[0] > 1.09  # gaps alone inflate hour 01 by more than 9 %
    assert (full["rmssd_ms"] <= gap_only["rmssd_ms"] + 1e-9).all()  # artifact correction only lowers it here
