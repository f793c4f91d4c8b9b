"""Time-domain HRV per window (Task Force 1996 definitions), computed from beats in one vectorised pass.

``compute_windows`` is a function of the beats only: the same beats give the same windows whether they come
from a file or from the store. A successive difference belongs to a window when both of its beats lie in it
and are successive (no gap, no removed beat between them), as in neurokit2's ``hrv_time`` over one window.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from model.hrv.cleaning import CleanBeats, CleaningConfig, clean_beats
from model.schema import WINDOW_COLUMNS, WINDOW_SIZES_MS


@dataclass(frozen=True)
class ValidityRule:
    """When a window's numbers are trustworthy enough to feed the model."""

    min_coverage: float  # fraction of the window covered by clean beats
    max_artifact_pct: float = 5.0  # more corrected or removed beats than this: invalid
    min_beats: int = 60  # fewer clean beats than this: invalid


# Per window size. 5 min and 1 h windows come from continuous recordings: half the window must hold beats
# (MMASH hours hold 75-80 % because of the logger's bursts). A day is judged on its readings, not on its
# coverage: one Welltory-style spot reading of 100 beats makes a valid day, the way morning readiness works.
DEFAULT_VALIDITY: dict[str, ValidityRule] = {
    "5min": ValidityRule(min_coverage=0.5, min_beats=100),
    "1h": ValidityRule(min_coverage=0.5, min_beats=1000),
    "1d": ValidityRule(min_coverage=0.0, min_beats=60),
}


@dataclass(frozen=True)
class DailyReading:
    """How a day's readings make its daily window: each reading is computed alone and the readings averaged.

    A day often holds several spot readings (Welltory: 580 of about 1,570 user-days hold 2-16). Pooling them as one
    recording is not a short-term measurement: the successive differences mix an evening with a morning, and SDNN
    mixes the readings' different means (the pooled SDNN was a median 1.4x a single reading's, up to 6.9x).
    Averaging the readings' ln RMSSD is the established alternative (Plews et al. 2013, Sports Med 43:773, average
    ln RMSSD over readings). A reading ends at a hole longer than ``break_ms``; a longer run of beats (a strap worn
    for hours) is cut into readings of ``max_ms``, the Task Force's short-term recording (1996), so its daily
    figures are those of 5-minute readings (its SDNN is then the SDNN index).

    A daily readiness value is a resting value. A spot reading (a run of at most :func:`spot_reading_ms`) is taken
    at rest by its protocol (Welltory, HRV4Training: sitting or lying, on waking); a strap's 5-minute pieces are
    whatever the wearer was doing, exercise included. So a day that holds a spot reading takes its figures from
    its spot readings only, and a strap's pieces make the figures of days without one. A morning reader who also
    wore a strap for a 40-minute workout (about 143 bpm, RMSSD about 5 ms) had the morning averaged with the
    workout's eight pieces: the day read 6 ms instead of 50, and the daily model read a crash (green 72 -> red 8,
    attack review 4). On a day without a spot reading, only the strap's pieces at rest (a mean heart rate of at
    most ``max_resting_hr_bpm``) make the figures: a morning reader who skipped the morning and recorded only a
    workout had a day of the workout's RMSSD, read as a crash; now that day is invalid. A spot reading counts at
    any heart rate: it is taken at rest by its protocol, and a high heart rate there (81 of the 2,724 Welltory
    readings are above 100 bpm) is what the person's body did. A short run joined to a strap's long run by
    holes of at most ``recording_break_ms`` (the
    same day) lies between the strap's dropouts, and is not a spot reading: taken as one, 61 of the 88 nsr2db
    days (Holter tapes, no spot reading) would have had the figures of those fragments alone (heart rate up to
    50 bpm higher, 8 days invalid); with the rule, every nsr2db and MMASH day is as before. No Welltory run lasts
    more than 5.7 minutes, so the shared Welltory days, and the daily figures resting on them, are unchanged.
    """

    # 5 s without a beat (above the slowest plausible interval, 2 s): the reading has ended. The holes between
    # successive Welltory readings are 10.7 s or more; a minute merged 10 pairs of them into one reading.
    break_ms: int = 5_000
    max_ms: int = 5 * 60_000  # readings of 5 minutes (Task Force 1996 short-term recording); see reading_ids
    # 10 minutes without a beat ends a recording (the artifact detector's segment break, CleaningConfig): short
    # runs joined to a strap's long run by shorter holes, the same day, lie between its dropouts (see _spot_readings)
    recording_break_ms: int = 10 * 60_000
    # A strap's piece at a higher mean heart rate is not at rest (100 bpm: the upper end of the normal resting
    # heart rate, AHA) and makes no day's figures; spot readings count whatever their heart rate (see _daily)
    max_resting_hr_bpm: float = 100.0


@dataclass(frozen=True)
class HrvConfig:
    cleaning: CleaningConfig = field(default_factory=CleaningConfig)  # range filter, gap tolerance, artifact correction
    validity: Mapping[str, ValidityRule] = field(default_factory=lambda: dict(DEFAULT_VALIDITY))
    daily: DailyReading = field(default_factory=DailyReading)  # how a day's readings make its 1d window


DEFAULT_CONFIG = HrvConfig()


def window_size_ms(window: str) -> int:
    try:
        return WINDOW_SIZES_MS[window]
    except KeyError:
        raise ValueError(f"window {window!r} is not supported: use one of {', '.join(WINDOW_SIZES_MS)}") from None


def empty_windows() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in WINDOW_COLUMNS})
    return frame.astype({"start": "int64", "n_beats": "int64", "valid": "bool"})


def compute_windows(
    epoch_ms: np.ndarray, ibi_ms: np.ndarray, window: str = "1h", config: HrvConfig = DEFAULT_CONFIG
) -> pd.DataFrame:
    """One row per window that holds any input beat, columns ``WINDOW_COLUMNS``, sorted by ``start``."""
    return compute_many(epoch_ms, ibi_ms, (window,), config)[window]


def compute_many(
    epoch_ms: np.ndarray, ibi_ms: np.ndarray, windows: tuple[str, ...], config: HrvConfig = DEFAULT_CONFIG
) -> dict[str, pd.DataFrame]:
    """``compute_windows`` for several window sizes, cleaning the beats once."""
    epoch_ms = np.asarray(epoch_ms, dtype=np.int64)
    ibi_ms = np.asarray(ibi_ms, dtype=np.float64)
    for window in windows:
        window_size_ms(window)
    if epoch_ms.size == 0:
        return {window: empty_windows() for window in windows}
    if np.any(np.diff(epoch_ms) < 0):
        order = np.argsort(epoch_ms, kind="stable")
        epoch_ms, ibi_ms = epoch_ms[order], ibi_ms[order]
    clean = clean_beats(epoch_ms, ibi_ms, config.cleaning)
    return {window: _aggregate(epoch_ms, clean, window, config) for window in windows}


def _aggregate(epoch_ms: np.ndarray, clean: CleanBeats, window: str, config: HrvConfig) -> pd.DataFrame:
    size_ms = window_size_ms(window)
    if window == "1d":
        return _daily(epoch_ms, clean, config)
    keys, sums = _sums(epoch_ms // size_ms, clean.epoch_ms // size_ms, clean.artifact_epoch_ms // size_ms, clean)
    return _frame(keys * size_ms, _figures(sums, size_ms, config.validity[window]))


def _sums(key_all: np.ndarray, key_clean: np.ndarray, key_artifact: np.ndarray, clean: CleanBeats) -> tuple:
    """Per window key (sorted, every key of ``key_all``): beat counts, sums of intervals and of squared
    deviations, and the successive differences' count, sum of squares and NN50."""
    keys, inverse_all = np.unique(key_all, return_inverse=True)  # [W], [N]
    n_w = keys.size
    w = np.searchsorted(keys, key_clean)  # [M] window of every clean beat
    rr = clean.ibi_ms
    n_beats = np.bincount(w, minlength=n_w)
    sum_rr = np.bincount(w, weights=rr, minlength=n_w)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_rr = sum_rr / n_beats
        sq_dev = np.bincount(w, weights=(rr - mean_rr[w]) ** 2, minlength=n_w)
    pair = clean.successive[1:] & (w[1:] == w[:-1])  # [M-1] both beats successive, same window
    diffs = np.diff(rr)[pair]
    w_d = w[1:][pair]
    sums = {
        "n_total": np.bincount(inverse_all, minlength=n_w),
        "n_artifact": np.bincount(np.searchsorted(keys, key_artifact), minlength=n_w),
        "n_beats": n_beats,
        "sum_rr": sum_rr,
        "sq_dev": sq_dev,
        "n_diffs": np.bincount(w_d, minlength=n_w),
        "sum_sq_diff": np.bincount(w_d, weights=diffs**2, minlength=n_w),
        "nn50": np.bincount(w_d, weights=(np.abs(diffs) > 50.0), minlength=n_w),
    }
    return keys, sums


def _figures(sums: dict[str, np.ndarray], size_ms: int, rule: ValidityRule) -> dict[str, np.ndarray]:
    """The Task Force figures and validity of windows from their :func:`_sums`."""
    n_beats, n_diffs = sums["n_beats"], sums["n_diffs"]
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_rr = sums["sum_rr"] / n_beats
        sdnn = np.sqrt(sums["sq_dev"] / (n_beats - 1))
        sdnn[n_beats < 2] = np.nan
        rmssd = np.sqrt(sums["sum_sq_diff"] / n_diffs)
        pnn50 = 100.0 * sums["nn50"] / n_diffs
        ln_rmssd = np.where(rmssd > 0, np.log(rmssd), np.nan)  # constant RR: no ln (was -inf: SQLite kept it)
        mean_hr = 60_000.0 / mean_rr
    coverage = np.minimum(sums["sum_rr"] / size_ms, 1.0)
    artifact_pct = 100.0 * sums["n_artifact"] / sums["n_total"]
    valid = (
        (coverage >= rule.min_coverage)
        & (artifact_pct <= rule.max_artifact_pct)
        & (n_beats >= rule.min_beats)
        & (n_diffs >= 2)
        & np.isfinite(ln_rmssd)
    )
    return {
        "n_beats": n_beats.astype(np.int64),
        "coverage": coverage,
        "artifact_pct": artifact_pct,
        "mean_rr_ms": mean_rr,
        "mean_hr_bpm": mean_hr,
        "rmssd_ms": rmssd,
        "ln_rmssd": ln_rmssd,
        "sdnn_ms": sdnn,
        "pnn50": pnn50,
        "valid": valid,
    }


def _frame(start_ms: np.ndarray, figures: dict[str, np.ndarray]) -> pd.DataFrame:
    return pd.DataFrame({"start": start_ms, **figures}, columns=list(WINDOW_COLUMNS))


def spot_reading_ms(daily: DailyReading) -> int:
    """The longest run of beats kept as one reading (7.5 minutes): longer runs are cut at midnight and into pieces."""
    return daily.max_ms + daily.max_ms // 2


def _run_ms(epoch_ms: np.ndarray, daily: DailyReading) -> np.ndarray:
    """int64[N]: the length of every beat's run of beats (sorted ``epoch_ms``), from the run's first beat to its
    last; a run ends at a hole longer than ``break_ms``. A run of at most :func:`spot_reading_ms` is a spot reading."""
    gap = np.ones(epoch_ms.size, dtype=bool)
    gap[1:] = np.diff(epoch_ms) > daily.break_ms
    starts = np.flatnonzero(gap)
    return (np.maximum.reduceat(epoch_ms, starts) - epoch_ms[starts])[np.cumsum(gap) - 1]


def reading_ids(epoch_ms: np.ndarray, daily: DailyReading) -> np.ndarray:
    """int64[N]: the reading of every beat (sorted ``epoch_ms``), numbered from 0 (:class:`DailyReading`).

    A reading ends at a hole longer than ``break_ms``. A run of beats longer than :func:`spot_reading_ms`
    (a strap) is also cut at UTC midnight, and each part into readings of ``max_ms`` from its first beat; a last
    piece shorter than half of it joins the one before, so every reading of a long run lasts 2.5 to 7.5 minutes.
    A spot reading of up to 7.5 minutes stays whole, also across midnight: it belongs to the day it began on (the
    usual 08:00 reading in UTC+8 to +10 crosses UTC midnight; cut there, it made two days of fragments, and a
    last beat at 00:00:00.000 a day of one beat that moved the forecast's origin)."""
    day = epoch_ms // window_size_ms("1d")
    gap = np.ones(epoch_ms.size, dtype=bool)
    gap[1:] = np.diff(epoch_ms) > daily.break_ms
    span = _run_ms(epoch_ms, daily)
    run_start = gap.copy()
    run_start[1:] |= (day[1:] != day[:-1]) & (span[1:] > spot_reading_ms(daily))
    starts = np.flatnonzero(run_start)
    run = np.cumsum(run_start) - 1
    since = epoch_ms - epoch_ms[starts][run]  # ms since the run's first beat
    piece = since // daily.max_ms
    last_piece = np.maximum.reduceat(piece, starts)[run]  # the run's last piece, for every beat
    run_span = np.maximum.reduceat(since, starts)[run]  # ms from the run's first beat to its last
    short_tail = (last_piece > 0) & (run_span - last_piece * daily.max_ms < daily.max_ms // 2)
    piece = np.where(short_tail & (piece == last_piece), piece - 1, piece)
    new = run_start.copy()
    new[1:] |= piece[1:] != piece[:-1]
    return np.cumsum(new) - 1


def _spot_readings(epoch_ms: np.ndarray, starts: np.ndarray, day_of: np.ndarray, daily: DailyReading) -> np.ndarray:
    """bool[R]: which readings (first beats at ``starts``, days ``day_of``) are spot readings taken at rest.

    A reading is one when its run of beats lasts at most :func:`spot_reading_ms` and no reading of a strap's long
    run lies in the same recording of its day: the day's readings joined across holes of at most
    ``recording_break_ms``. A strap that drops out for more than ``break_ms`` makes short runs too; they are
    pieces of the strap's recording, not readings taken at rest."""
    short = _run_ms(epoch_ms, daily)[starts] <= spot_reading_ms(daily)  # [R]
    last_ms = epoch_ms[np.r_[starts[1:], epoch_ms.size] - 1]  # [R] last beat of each reading
    new = np.ones(starts.size, dtype=bool)
    new[1:] = (day_of[1:] != day_of[:-1]) | (epoch_ms[starts[1:]] - last_ms[:-1] > daily.recording_break_ms)
    recording = np.cumsum(new) - 1  # [R]
    strap = np.bincount(recording, weights=~short) > 0  # recordings that hold a long run
    return short & ~strap[recording]


def _daily(epoch_ms: np.ndarray, clean: CleanBeats, config: HrvConfig) -> pd.DataFrame:
    """Daily windows: each reading computed alone, the day's figures from its valid readings (:class:`DailyReading`).

    No library computes this: neurokit2's ``hrv_time`` gives one recording's figures, not the combination of a
    day's readings, so it is written here on the same sums as the other windows.
    ln RMSSD is the mean of the readings' ln RMSSD (RMSSD their geometric mean) and SDNN the mean of their SDNN
    (the SDNN index of a long recording); mean RR, heart rate and pNN50 pool the valid readings' beats and
    differences; beats, coverage and artifacts count the whole day. A day that holds a spot reading takes these
    from its spot readings only (:func:`_spot_readings`), a day without one from the strap's pieces at rest
    (``max_resting_hr_bpm``). A day with no valid reading (among those) is invalid and its figures come from every
    reading (among those; all of the day's where none is at rest) the same way."""
    day_ms = window_size_ms("1d")
    reading = reading_ids(epoch_ms, config.daily)
    starts = np.flatnonzero(np.r_[True, reading[1:] != reading[:-1]])
    first_ms = epoch_ms[starts]  # [R] first beat of each reading

    def reading_of(t: np.ndarray) -> np.ndarray:  # times inside [first beat of a reading, next reading)
        return np.clip(np.searchsorted(first_ms, t, side="right") - 1, 0, first_ms.size - 1)

    _, per = _sums(reading, reading_of(clean.epoch_ms), reading_of(clean.artifact_epoch_ms), clean)
    rule = config.validity["1d"]
    fig = _figures(per, day_ms, rule)
    days, day_of = np.unique(first_ms // day_ms, return_inverse=True)  # [D], [R]
    n_d = days.size
    spot = _spot_readings(epoch_ms, starts, day_of, config.daily)
    day_has_spot = np.bincount(day_of, weights=spot, minlength=n_d) > 0
    with np.errstate(invalid="ignore"):
        calm = fig["mean_hr_bpm"] <= config.daily.max_resting_hr_bpm  # [R] (a reading without beats: not calm)
    # [R] a day with a spot reading: its spot readings only; else the strap's pieces at a resting heart rate
    resting = spot | (~day_has_spot[day_of] & calm)
    day_valid = np.bincount(day_of, weights=fig["valid"] & resting, minlength=n_d) > 0
    # a day with no reading at rest (a workout only) is invalid, and its figures are those of all its readings
    counted = resting | ~(np.bincount(day_of, weights=resting, minlength=n_d) > 0)[day_of]
    use = counted & (fig["valid"] | ~day_valid[day_of])  # [R] the readings a day's figures come from
    finite = use & np.isfinite(fig["ln_rmssd"])
    finite_sd = use & np.isfinite(fig["sdnn_ms"])

    def total(name: str, mask: np.ndarray | None = None) -> np.ndarray:
        values = per[name] if mask is None else np.where(mask, per[name], 0)
        return np.bincount(day_of, weights=values, minlength=n_d)

    def mean_of(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.bincount(day_of, weights=np.where(mask, values, 0.0), minlength=n_d) / np.bincount(
                day_of, weights=mask, minlength=n_d
            )

    pooled = _figures({name: total(name, use) for name in per}, day_ms, rule)
    whole = _figures({name: total(name) for name in per}, day_ms, rule)
    ln_rmssd = mean_of(fig["ln_rmssd"], finite)
    figures = {
        "n_beats": whole["n_beats"],
        "coverage": whole["coverage"],
        "artifact_pct": whole["artifact_pct"],
        "mean_rr_ms": pooled["mean_rr_ms"],
        "mean_hr_bpm": pooled["mean_hr_bpm"],
        "rmssd_ms": np.exp(ln_rmssd),
        "ln_rmssd": ln_rmssd,
        "sdnn_ms": mean_of(fig["sdnn_ms"], finite_sd),
        "pnn50": pooled["pnn50"],
        "valid": day_valid,
    }
    return _frame(days * day_ms, figures)


# -- output formatting (``hrvcast hrv``) ------------------------------------------------------------------


def iso_utc(epoch_ms: np.ndarray | pd.Series) -> list[str]:
    """Epoch ms -> ISO 8601 UTC strings with a ``Z`` suffix, e.g. ``2026-11-10T03:00:00Z``."""
    stamps = pd.to_datetime(np.asarray(epoch_ms, dtype=np.int64), unit="ms", utc=True)
    has_ms = np.any(np.asarray(epoch_ms) % 1000 != 0)
    fmt = "%Y-%m-%dT%H:%M:%S.%f" if has_ms else "%Y-%m-%dT%H:%M:%S"
    text = stamps.strftime(fmt)
    return [s[:-3] + "Z" if has_ms else s + "Z" for s in text]


def _printable(windows: pd.DataFrame) -> pd.DataFrame:
    out = windows.copy()
    out["start"] = iso_utc(windows["start"])
    return out


def windows_to_csv(windows: pd.DataFrame) -> str:
    """CSV with a header, columns in ``WINDOW_COLUMNS`` order; missing numbers are empty; valid is true/false."""
    out = _printable(windows)
    out["valid"] = np.where(windows["valid"].to_numpy(dtype=bool), "true", "false")
    return out.to_csv(index=False, lineterminator="\n", float_format="%.6g", na_rep="")


def windows_to_jsonl(windows: pd.DataFrame) -> str:
    """One JSON object per line; missing numbers are ``null``."""
    lines = []
    for row in _printable(windows).itertuples(index=False):
        record = {}
        for name, value in zip(WINDOW_COLUMNS, row, strict=True):
            if isinstance(value, float | np.floating):
                record[name] = None if not np.isfinite(value) else round(float(value), 6)
            elif isinstance(value, bool | np.bool_):
                record[name] = bool(value)
            elif isinstance(value, np.integer):
                record[name] = int(value)
            else:
                record[name] = value
        lines.append(json.dumps(record))
    return "".join(line + "\n" for line in lines)
