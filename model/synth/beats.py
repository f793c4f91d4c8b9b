"""Beats from the latent state, with ectopic, missed and extra beats; and the hourly windows they imply.

Each RR interval is the sum of the minute's mean interval, respiratory sinus arrhythmia (a sine at the
breathing rate, sampled at the beats), a 0.1 Hz baroreflex wave and white beat-to-beat noise. Their amplitudes
are solved so the expected RMSSD equals the latent RMSSD: for a sine of amplitude ``a`` at ``f`` Hz sampled
every ``T`` s the successive differences have mean square ``2 a^2 sin^2(pi f T)``, white noise of SD ``s``
adds ``2 s^2``. Everything is vectorised over the whole span (about 1.2 M beats in 14 days).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from model.hrv.windows import DEFAULT_VALIDITY, ValidityRule
from model.schema import HOUR_MS, MIN_MS, WINDOW_COLUMNS
from model.synth.latent import Latent
from model.synth.params import SynthParams

LF_HZ = 0.1
# Beat labels (int8) carried through insertions and deletions; the truth lists the ones a user can see.
NORMAL, ECTOPIC, PAUSE, MISSED, EXTRA, AFTER_EXTRA = 0, 1, 2, 3, 4, 5


def _amplitudes(
    mean_rr_ms: np.ndarray, resp_hz: np.ndarray, rmssd_ms: np.ndarray, share: np.ndarray, lf_ratio: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """RSA amplitude and white-noise SD (ms) giving the wanted RMSSD (arrays of any one shape)."""
    t_s = mean_rr_ms / 1000.0
    s_rsa = np.sin(np.pi * resp_hz * t_s) ** 2
    s_lf = np.sin(np.pi * LF_HZ * t_s) ** 2
    rsa_ms = np.sqrt(share * rmssd_ms**2 / (2.0 * (s_rsa + lf_ratio**2 * s_lf)))
    white_ms = np.sqrt((1.0 - share) * rmssd_ms**2 / 2.0)
    return rsa_ms, white_ms


def _add_artifacts(rng: np.random.Generator, rr10: np.ndarray, p: SynthParams) -> tuple[np.ndarray, np.ndarray]:
    """Ectopic, missed and extra beats on intervals in tenths of ms; every change keeps beat times summing."""
    n = len(rr10)
    counts = rng.binomial(n, [p.ectopic_rate, p.missed_rate, p.extra_rate])
    idx = rng.choice(n - 3, size=int(counts.sum()), replace=False) + 1  # never the first or last two
    kind = np.repeat([ECTOPIC, MISSED, EXTRA], counts)
    order = np.argsort(idx)
    idx, kind = idx[order], kind[order]
    apart = np.concatenate([[True], np.diff(idx) >= 3])  # artifacts never touch each other
    idx, kind = idx[apart], kind[apart]
    coupling = rng.uniform(0.55, 0.8, len(idx))  # premature beat at 55-80 % of the interval
    split = rng.uniform(0.3, 0.7, len(idx))  # false detection somewhere inside the interval

    labels = np.zeros(n, dtype=np.int8)
    e = idx[kind == ECTOPIC]
    early = np.rint(coupling[kind == ECTOPIC] * rr10[e]).astype(np.int64)
    rr10[e + 1] += rr10[e] - early  # compensatory pause: the two intervals keep their sum
    rr10[e] = early
    labels[e], labels[e + 1] = ECTOPIC, PAUSE
    q = idx[kind == MISSED]
    rr10[q + 1] += rr10[q]  # the beat ending interval q was not detected
    labels[q + 1] = MISSED
    keep = np.ones(n, dtype=bool)
    keep[q] = False
    x = idx[kind == EXTRA]
    first = np.rint(split[kind == EXTRA] * rr10[x]).astype(np.int64)
    second = rr10[x] - first
    rr10[x] = first
    labels[x] = EXTRA
    rr10 = np.insert(rr10, x + 1, second)
    labels = np.insert(labels, x + 1, AFTER_EXTRA)
    keep = np.insert(keep, x + 1, True)
    return rr10[keep], labels[keep]


def beats_from_latent(
    latent: Latent, rng: np.random.Generator, p: SynthParams
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(epoch_ms int64[N], ibi_ms float64[N], labels int8[N])`` of the beats recorded inside the span."""
    m = len(latent.hr_bpm)
    edges = MIN_MS * np.arange(m + 1, dtype=float)  # [M+1] ms from grid start
    mids = edges[:-1] + MIN_MS / 2.0
    cum_beats = np.concatenate([[0.0], np.cumsum(latent.hr_bpm)])  # [M+1] beats at minute edges
    t_nom = np.interp(np.arange(1, int(cum_beats[-1]) + 1), cum_beats, edges)  # [N] nominal beat times

    def at_beats(x: np.ndarray) -> np.ndarray:
        return np.interp(t_nom, mids, x)

    mean_rr = at_beats(60_000.0 / latent.hr_bpm)
    resp = at_beats(latent.resp_hz)
    lf_ratio = at_beats(latent.lf_ratio)
    rsa_ms, white_ms = _amplitudes(mean_rr, resp, at_beats(latent.rmssd_ms), at_beats(latent.rsa_share), lf_ratio)
    jitter = np.concatenate([[0.0], np.cumsum(rng.normal(0.0, 0.3, m))])  # irregular breathing, per minute
    resp_phase = 2 * np.pi * np.concatenate([[0.0], np.cumsum(latent.resp_hz * 60.0)]) + jitter
    lf_phase = 2 * np.pi * LF_HZ * t_nom / 1000.0 + np.interp(t_nom, edges, np.cumsum(rng.normal(0.0, 0.5, m + 1)))
    white = rng.standard_normal(len(t_nom))
    rr = (
        mean_rr
        + rsa_ms * np.sin(np.interp(t_nom, edges, resp_phase))
        + lf_ratio * rsa_ms * np.sin(lf_phase)
        + white_ms * white
    )
    rr10 = np.rint(np.clip(rr, 250.0, 2500.0) * 10.0).astype(np.int64)  # tenths of ms: exact sums
    rr10, labels = _add_artifacts(rng, rr10, p)
    epoch_ms = (latent.grid_start_ms * 10 + np.cumsum(rr10)) // 10
    second = np.clip((epoch_ms - latent.grid_start_ms) // 1000, 0, len(latent.schedule.worn_s) - 1)
    keep = (epoch_ms >= latent.start_ms) & (epoch_ms < latent.end_ms) & latent.schedule.worn_s[second]
    return epoch_ms[keep], rr10[keep] / 10.0, labels[keep]


def _erf(x: np.ndarray) -> np.ndarray:
    """Abramowitz & Stegun 7.1.26 (error < 1.5e-7): numpy has no erf and scipy is not ours to import."""
    sign = np.sign(x)
    x = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * x)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-x * x))


def windows_from_latent(latent: Latent, p: SynthParams, rule: ValidityRule = DEFAULT_VALIDITY["1h"]) -> pd.DataFrame:
    """Hourly windows (``WINDOW_COLUMNS``) that the beats of this latent state have in expectation.

    ``rmssd_ms``, ``mean_rr_ms``, ``mean_hr_bpm``, ``n_beats`` and ``coverage`` are the expectations for
    the clean beats as ``model.hrv.windows.compute_windows`` defines them; ``sdnn_ms`` and ``pnn50`` are close
    approximations (Gaussian white part, sine RSA part); ``artifact_pct`` is the share of intervals the
    configured artifacts alter (two per ectopic or extra beat, one per missed beat); ``valid`` follows
    ``rule``. Hours without worn minutes are absent.
    """
    m = len(latent.hr_bpm)
    h = m // 60
    worn = latent.worn_frac.reshape(h, 60)  # [H, 60]
    hr = latent.hr_bpm.reshape(h, 60)
    mu = 60_000.0 / hr
    rmssd = latent.rmssd_ms.reshape(h, 60)
    resp = latent.resp_hz.reshape(h, 60)
    lf_ratio = latent.lf_ratio.reshape(h, 60)
    rsa_ms, white_ms = _amplitudes(mu, resp, rmssd, latent.rsa_share.reshape(h, 60), lf_ratio)
    beats = hr * worn  # [H, 60] expected beats recorded in each minute
    n = beats.sum(axis=1)
    present = n >= 1.0
    safe_n = np.where(present, n, 1.0)
    mean_rr = 60_000.0 * worn.sum(axis=1) / safe_n
    rmssd_h = np.sqrt((beats * rmssd**2).sum(axis=1) / safe_n)
    within = rsa_ms**2 / 2.0 + (lf_ratio * rsa_ms) ** 2 / 2.0 + white_ms**2
    between = (beats * (mu - mean_rr[:, None]) ** 2).sum(axis=1) / safe_n
    sdnn = np.sqrt((beats * within).sum(axis=1) / safe_n + between)
    t_s = mu / 1000.0
    rsa_diff = 2.0 * rsa_ms * np.abs(np.sin(np.pi * resp * t_s))  # [H, 60] amplitude of RSA differences
    gauss_sd = np.sqrt(2.0 * white_ms**2 + 2.0 * (lf_ratio * rsa_ms) ** 2 * np.sin(np.pi * LF_HZ * t_s) ** 2)
    theta = np.cos(np.pi * (np.arange(16) + 0.5) / 16.0)  # [16] phases of the RSA difference
    d = rsa_diff[..., None] * theta  # [H, 60, 16]
    z = np.sqrt(2.0) * gauss_sd[..., None]
    over = 1.0 - 0.5 * (_erf((50.0 - d) / z) - _erf((-50.0 - d) / z))  # P(|d + noise| > 50 ms)
    pnn50 = 100.0 * (beats * over.mean(axis=2)).sum(axis=1) / safe_n
    coverage = worn.mean(axis=1)
    artifact_pct = 100.0 * (2.0 * p.ectopic_rate + p.missed_rate + 2.0 * p.extra_rate)
    frame = pd.DataFrame(
        {
            "start": latent.grid_start_ms + HOUR_MS * np.arange(h, dtype=np.int64),
            "n_beats": np.rint(n).astype(np.int64),
            "coverage": coverage,
            "artifact_pct": np.full(h, artifact_pct),
            "mean_rr_ms": mean_rr,
            "mean_hr_bpm": 60_000.0 / np.where(present, mean_rr, 1.0),
            "rmssd_ms": rmssd_h,
            "ln_rmssd": np.log(np.where(present, rmssd_h, 1.0)),
            "sdnn_ms": sdnn,
            "pnn50": pnn50,
            "valid": (coverage >= rule.min_coverage) & (artifact_pct <= rule.max_artifact_pct) & (n >= rule.min_beats),
        }
    )
    return frame.loc[present, list(WINDOW_COLUMNS)].reset_index(drop=True)
