"""The minute-by-minute physiological state of one synthetic person.

Beats (``model.synth.beats.beats_from_latent``) and the fast hourly shortcut
(``model.synth.beats.windows_from_latent``) are both drawn from this one state, so they agree. The grid runs
from the hour at or before the span's start to the hour at or after its end; minutes outside the span count
as not worn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.synth.params import Person, SynthParams, draw_person
from model.synth.schedule import (
    HOUR_MS,
    MIN_MS,
    Schedule,
    draw_nights,
    draw_sessions,
    draw_strains,
    draw_walks,
    draw_worn,
    inside,
    local_midnights,
)

SLEEP_TAU_MIN = 20.0  # heart rate and HRV settle into sleep (and out of it) over about this many minutes
SLEEP_CYCLE_MIN = 90.0  # NREM/REM cycle: ln RMSSD higher in deep sleep early in each cycle
SLEEP_CYCLE_LN = 0.12


@dataclass(frozen=True)
class Latent:
    """Per-minute state on the grid (M minutes from ``grid_start_ms``). HR in bpm, RMSSD in ms."""

    person: Person
    schedule: Schedule
    start_ms: int
    end_ms: int
    grid_start_ms: int
    hr_bpm: np.ndarray  # float64 [M]
    rmssd_ms: np.ndarray  # float64 [M]: RMSSD the beats of this minute are drawn to have
    resp_hz: np.ndarray  # float64 [M]: breathing rate, the frequency of respiratory sinus arrhythmia
    rsa_share: np.ndarray  # float64 [M]: share of RMSSD^2 from breathing (and 0.1 Hz waves); rest is white
    lf_ratio: np.ndarray  # float64 [M]: amplitude of the 0.1 Hz (baroreflex) wave relative to RSA
    steps: np.ndarray  # float64 [M]: steps per minute
    asleep: np.ndarray  # bool [M]
    worn_frac: np.ndarray  # float64 [M]: fraction of the minute with the sensor on, inside the span
    strain: np.ndarray  # float64 [M]: strain load 0..1


def _ar1(rng: np.random.Generator, n: int, sd: float, phi: float) -> np.ndarray:
    """A stationary AR(1) series with marginal SD ``sd`` (a loop: n is days or hours, not beats)."""
    e = rng.normal(0.0, sd, n)
    out = np.empty(n)
    prev = 0.0
    for i in range(n):
        prev = e[i] if i == 0 else phi * prev + np.sqrt(1.0 - phi * phi) * e[i]
        out[i] = prev
    return out


def _session_effects(sessions: np.ndarray, grid_start_ms: int, m: int, tau_min: float, p: SynthParams):
    """Heart-rate rise, post-exercise ln RMSSD suppression and steps from exercise sessions, per minute."""
    hr = np.zeros(m)
    post_ln = np.zeros(m)
    steps = np.zeros(m)
    tail = int(5 * tau_min)
    for start, end, excess, is_run in sessions:
        a = int((start - grid_start_ms) // MIN_MS)
        b = int((end - grid_start_ms) // MIN_MS)
        k = np.arange(max(a, 0), min(b, m))
        hr[k] = np.maximum(hr[k], excess * np.minimum(1.0, (k - a + 1) / 3.0))  # 3-minute ramp up
        steps[k] += 160.0 if is_run else 15.0
        after = np.arange(max(b, 0), min(b + tail, m))
        dt = after - b
        hr[after] = np.maximum(hr[after], excess * (0.7 * np.exp(-dt / 1.5) + 0.3 * np.exp(-dt / 30.0)))
        post_ln[after] += p.post_exercise_ln * excess / 70.0 * np.exp(-dt / tau_min)
    return hr, post_ln, steps


def _strain_curve(strains: np.ndarray, t_mid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Load 0..1 of each episode (smooth rise over a day, plateau, exponential recovery), and its effects."""
    ln = np.zeros(len(t_mid))
    hr = np.zeros(len(t_mid))
    load = np.zeros(len(t_mid))
    for start, end, _recovered, depth, hr_rise, tau in strains:
        rise = np.clip((t_mid - start) / min(24 * HOUR_MS, end - start), 0.0, 1.0)
        level = rise * rise * (3.0 - 2.0 * rise)  # smoothstep
        level = np.where(t_mid > end, np.exp(-(t_mid - end) / tau), level)
        ln += depth * level
        hr += hr_rise * level
        load = np.maximum(load, level)
    return ln, hr, load


def draw_latent(rng: np.random.Generator, start_ms: int, end_ms: int, p: SynthParams) -> Latent:
    if end_ms - start_ms < HOUR_MS:
        raise ValueError(f"span {start_ms}..{end_ms} ms is shorter than one hour: ask for at least an hour")
    grid_start = start_ms // HOUR_MS * HOUR_MS
    grid_end = -(-end_ms // HOUR_MS) * HOUR_MS
    m = (grid_end - grid_start) // MIN_MS
    t_mid = grid_start + MIN_MS * (np.arange(m) + 0.5)  # [M] ms

    person = draw_person(rng, p)
    midnights = local_midnights(grid_start, grid_end, p.utc_offset_h)
    nights = draw_nights(rng, person, p, midnights)
    sessions = draw_sessions(rng, person, p, midnights, nights)
    walks = draw_walks(rng, person, midnights, nights, sessions)
    strains = draw_strains(rng, p, start_ms, end_ms)
    worn_s = draw_worn(rng, person, p, (grid_start, grid_end, start_ms, end_ms), midnights, nights, sessions)
    day_ln = _ar1(rng, len(midnights), person.day_sd_ln, p.day_ar)
    day_hr = _ar1(rng, len(midnights), 1.0, p.day_ar)
    n_hours = m // 60 + 1
    hour_ln = _ar1(rng, n_hours, p.hour_sd_ln, p.hour_ar)
    schedule = Schedule(nights=nights, sessions=sessions, walks=walks, strains=strains, worn_s=worn_s)

    asleep = inside(t_mid.astype(np.int64), nights)
    kernel = np.exp(-np.arange(int(6 * SLEEP_TAU_MIN)) / SLEEP_TAU_MIN)
    sleep_level = np.convolve(asleep.astype(float), kernel / kernel.sum())[:m]  # [M] 0..1, lags onset and wake
    night = np.clip(np.searchsorted(nights[:, 0], t_mid, side="right") - 1, 0, None)
    cycle = asleep * np.cos(2 * np.pi * (t_mid - nights[night, 0]) / (SLEEP_CYCLE_MIN * MIN_MS))
    local_h = (t_mid / HOUR_MS + p.utc_offset_h) % 24.0
    circ = np.cos(2 * np.pi * (local_h - 4.0) / 24.0)  # +1 at 04:00

    act_hr, post_ln, steps = _session_effects(sessions, grid_start, m, person.post_exercise_tau_min, p)
    for start, end, excess, cadence in walks:
        a, b = (int(np.clip((t - grid_start) // MIN_MS, 0, m)) for t in (start, end))
        act_hr[a:b] = np.maximum(act_hr[a:b], excess)
        steps[a:b] += cadence
    strain_ln, strain_hr, load = _strain_curve(strains, t_mid)
    day_mid = midnights + 12 * HOUR_MS
    daily_ln = np.interp(t_mid, day_mid, day_ln)
    daily_hr = np.interp(t_mid, day_mid, day_hr) - 8.0 * daily_ln  # a low-HRV day is a higher-HR day
    hourly_ln = np.interp(t_mid, grid_start + HOUR_MS * (np.arange(n_hours) + 0.5), hour_ln)

    hr = (
        person.hr_rest_bpm
        + daily_hr
        - person.sleep_hr_drop_bpm * sleep_level
        - person.circadian_hr_bpm * circ
        + act_hr
        + strain_hr
    )
    ln = (
        person.baseline_ln_rmssd
        + daily_ln
        + hourly_ln
        + person.sleep_gain_ln * sleep_level
        + SLEEP_CYCLE_LN * cycle
        + person.circadian_ln * circ
        - p.hr_to_ln * act_hr
        - post_ln
        - strain_ln
    )
    resp = person.resp_hz * (1.0 - 0.08 * sleep_level) + 0.004 * act_hr
    return Latent(
        person=person,
        schedule=schedule,
        start_ms=start_ms,
        end_ms=end_ms,
        grid_start_ms=grid_start,
        hr_bpm=hr,
        rmssd_ms=np.clip(np.exp(ln), 3.0, 250.0),
        resp_hz=np.minimum(resp, 0.4 * hr / 60.0),  # below the beat rate's Nyquist limit
        rsa_share=np.clip(0.55 + 0.2 * sleep_level - 0.004 * act_hr, 0.2, 0.8),
        lf_ratio=1.2 - 0.6 * sleep_level,
        steps=steps,
        asleep=asleep,
        worn_frac=worn_s.reshape(m, 60).mean(axis=1),
        strain=load,
    )
