"""Cleaning: range filter, gaps, and Lipponen & Tarvainen detection/correction (checked against neurokit2)."""

from __future__ import annotations

import numpy as np
import pytest

from model.hrv.cleaning import CleaningConfig, clean_beats, detect_artifacts
from model.io import ReadOptions, read_rr

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def regular_series(n: int = 600, seed: int = 0) -> np.ndarray:
    """Intervals of a calm heart: 850 ms, a breathing wave of +-25 ms and a little noise."""
    rng = np.random.default_rng(seed)
    k = np.arange(n)
    return np.round(850 + 25 * np.sin(2 * np.pi * k / 5.0) + rng.normal(0, 4, n), 1)


def beats(ibi_ms: np.ndarray) -> np.ndarray:
    return T0 + np.round(np.cumsum(ibi_ms)).astype(np.int64)


def rmssd(ibi_ms: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.diff(ibi_ms) ** 2)))


def test_out_of_range_intervals_are_removed_and_no_difference_spans_them():
    ibi = np.array([800.0, 810.0, 790.0, 2500.0, 800.0, 820.0, 250.0, 830.0])
    clean = clean_beats(beats(ibi), ibi, CleaningConfig(correct=False))
    assert clean.ibi_ms.tolist() == [800.0, 810.0, 790.0, 800.0, 820.0, 830.0]
    # successive pairs by hand: (800,810), (810,790), (800,820); the removed 2500 and 250 break the chain
    assert clean.successive.tolist() == [False, True, True, False, True, False]
    assert clean.artifact_epoch_ms.size == 2


def test_a_clock_jump_is_a_gap():
    ibi = np.array([800.0, 810.0, 790.0, 800.0, 820.0])
    t = beats(ibi)
    t[3:] += 8_000  # the logger dropped 8 s of beats before the 4th beat
    clean = clean_beats(t, ibi, CleaningConfig(correct=False))
    assert clean.successive.tolist() == [False, True, True, False, True]


@pytest.mark.parametrize("kind", ["ectopic", "missed", "extra"])
def test_an_isolated_artifact_is_detected_and_corrected(kind):
    ibi = regular_series()
    k = 300
    truth_rmssd = rmssd(ibi)
    if kind == "ectopic":  # premature beat, then a compensatory pause
        broken = ibi.copy()
        broken[k], broken[k + 1] = ibi[k] * 0.65, ibi[k + 1] * 1.35
    elif kind == "missed":  # the sensor missed a beat: two intervals read as one
        broken = np.concatenate((ibi[:k], [ibi[k] + ibi[k + 1]], ibi[k + 2 :]))
    else:  # a spurious beat split one interval in two
        broken = np.concatenate((ibi[:k], [ibi[k] * 0.4, ibi[k] * 0.6], ibi[k + 1 :]))
    art = detect_artifacts(broken / 1000.0)
    flagged = {name: np.flatnonzero(getattr(art, name)).tolist() for name in ("ectopic", "missed", "extra")}
    flagged["ectopic"] += np.flatnonzero(art.longshort).tolist()
    assert k in flagged[kind]
    assert set(np.flatnonzero(art.any).tolist()) <= {k, k + 1, k + 2}  # nothing flagged away from the artifact
    clean = clean_beats(beats(broken), broken)
    naive = rmssd(broken)
    cleaned = float(np.sqrt(np.mean(np.diff(clean.ibi_ms)[clean.successive[1:]] ** 2)))
    assert naive > 1.3 * truth_rmssd  # one artifact in 600 beats inflates RMSSD visibly
    assert cleaned == pytest.approx(truth_rmssd, rel=0.05)
    # an isolated flag is interpolated (a missed beat put back, an extra one taken out); a flagged pair is
    # removed, never invented
    assert ibi.size - 2 <= clean.ibi_ms.size <= ibi.size


def test_clean_series_keeps_every_beat():
    ibi = regular_series(seed=1)
    clean = clean_beats(beats(ibi), ibi)
    assert clean.ibi_ms.size == ibi.size
    assert clean.artifact_epoch_ms.size == 0


def _nk_flags(ibi_ms: np.ndarray) -> dict[str, set[int]]:
    import neurokit2 as nk

    peaks = np.concatenate(([0], np.cumsum(ibi_ms[1:]))).astype(np.int64)  # the intervals laid end to end
    info, _ = nk.signal_fixpeaks(peaks, sampling_rate=1000, iterative=False, method="kubios")
    return {name: set(info[name]) for name in ("ectopic", "missed", "extra", "longshort")}


@pytest.mark.realdata
@pytest.mark.parametrize("relpath", ["mmash/DataPaper/user_15/RR.csv", "nsr2db/nsr005_rr_secs.txt"])
def test_detection_flags_the_same_beats_as_neurokit2_on_real_recordings(data_dir, relpath):
    """The vectorised rules equal neurokit2's signal_fixpeaks(method='kubios') beat for beat."""
    rec = read_rr(data_dir / relpath, ReadOptions(start="2020-03-02T00:00:00Z", start_date="2020-03-02"))
    ibi = np.round(rec.ibi_ms)  # neurokit2 takes integer sample positions at 1000 Hz
    ibi = ibi[(ibi >= 300) & (ibi <= 2000)][:60_000]
    art = detect_artifacts(ibi / 1000.0, neurokit_edges=True)
    theirs = _nk_flags(ibi)
    total = 0
    for name in ("ectopic", "missed", "extra", "longshort"):
        mine = set(np.flatnonzero(getattr(art, name)).tolist())
        assert mine == theirs[name], name
        total += len(mine)
    assert total > 50  # real recordings do hold artifacts: the comparison is not vacuous
