"""Parameters of the synthetic demo-data generator and the person-level traits drawn from them.

Ranges are ``(low, high)`` of a uniform draw unless the comment says ``(mean, SD)`` of a normal draw. Heart
rate is in beats per minute, HRV levels are natural logs of RMSSD in ms, clock hours are local time of the
synthetic people (``utc_offset_h`` from UTC). Values follow published norms for healthy adults: resting
awake RMSSD about 20-80 ms (Nunan et al. 2010), nightly RMSSD 1.3-1.8 times the daytime value, overreaching
and illness lowering ln RMSSD by a few tenths over days (Plews et al. 2012).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Range = tuple[float, float]


@dataclass(frozen=True)
class SynthParams:
    # --- people (one draw per user)
    baseline_ln_rmssd: Range = (3.6, 0.4)  # (mean, SD): resting awake ln RMSSD across people, i.e. 20-80 ms
    baseline_ln_clip: Range = (2.8, 4.5)  # resting ln RMSSD kept inside this range (16-90 ms)
    hr_rest_bpm: Range = (55.0, 75.0)  # resting awake heart rate
    sleep_gain_ln: Range = (0.2, 0.5)  # ln RMSSD rise asleep over resting awake
    sleep_hr_drop_bpm: Range = (6.0, 12.0)  # heart-rate fall asleep
    circadian_ln: Range = (0.03, 0.10)  # amplitude of the 24 h ln RMSSD rhythm beyond sleep (peak about 04:00)
    circadian_hr_bpm: Range = (1.5, 4.0)  # amplitude of the 24 h heart-rate rhythm (trough about 04:00)
    bedtime_h: Range = (23.0, 0.75)  # (mean, SD): a person's usual sleep onset, clock hours (24+ = after midnight)
    sleep_duration_h: Range = (7.4, 0.5)  # (mean, SD): a person's usual time asleep
    weekend_shift_h: Range = (0.0, 1.2)  # later sleep onset on Friday and Saturday nights
    night_jitter_h: float = 0.5  # SD of night-to-night variation of onset and of duration
    day_sd_ln: Range = (0.04, 0.10)  # SD of the day-to-day ln RMSSD level (AR(1) with ``day_ar``)
    day_ar: float = 0.5  # lag-1 correlation of the daily level
    hour_sd_ln: float = 0.10  # SD of hour-to-hour ln RMSSD fluctuation (AR(1) with ``hour_ar``)
    hour_ar: float = 0.6  # lag-1 correlation of the hourly fluctuation
    resp_hz: Range = (0.20, 0.27)  # breathing rate at rest (Hz), raised by activity
    # --- activity
    steps_per_day: Range = (4000.0, 12000.0)  # steps walked outside exercise sessions
    sessions_per_week: Range = (2.0, 6.0)  # exercise sessions (at most one a day)
    session_min: Range = (30.0, 90.0)  # length of one session, minutes
    session_hr_excess_bpm: Range = (45.0, 85.0)  # heart-rate rise over rest during a session
    hr_to_ln: float = 0.025  # ln RMSSD fall per bpm of activity-driven heart-rate rise
    post_exercise_ln: float = 0.35  # extra ln RMSSD fall just after a session at 70 bpm excess, decaying
    post_exercise_tau_min: Range = (60.0, 120.0)  # time constant of that post-exercise suppression
    # --- strain (overreaching, illness, poor sleep streaks)
    strain_every_days: float = 10.0  # mean spacing of strain episodes; at least one when the span is 5+ days
    strain_days: Range = (3.0, 6.0)  # length of the loading phase
    strain_depth_ln: Range = (0.2, 0.5)  # ln RMSSD fall at full strain (RMSSD 18-40 % lower)
    strain_hr_bpm: Range = (2.0, 6.0)  # resting heart-rate rise at full strain
    recovery_tau_days: Range = (0.7, 1.5)  # time constant of recovery after the loading phase ends
    strain_at_end_days: float | None = None  # when set: one more episode, of the deepest strain_depth_ln and
    # strain_hr_bpm, begins this many days before the span's end and is still loading at the end (a user heading
    # into the red zone now; episodes drawn as usual that would overlap it are left out). None: none (default)
    # --- measurement
    ectopic_rate: float = 0.003  # premature beats (with compensatory pause) per beat
    missed_rate: float = 0.002  # undetected beats (two intervals merged) per beat
    extra_rate: float = 0.001  # false detections (one interval split) per beat
    wear_fraction: float | None = None  # fraction of time worn; None = the natural pattern (about 0.95)
    utc_offset_h: float = 0.0  # the synthetic people's clock relative to UTC

    def __post_init__(self) -> None:
        for name in ("ectopic_rate", "missed_rate", "extra_rate"):
            if not 0.0 <= getattr(self, name) <= 0.05:
                raise ValueError(f"{name}={getattr(self, name)!r} is out of range: use 0 to 0.05 per beat")
        if self.strain_at_end_days is not None and not 1.0 <= self.strain_at_end_days <= 30.0:
            raise ValueError(f"strain_at_end_days={self.strain_at_end_days!r} is out of range: use 1 to 30, or None")
        if self.wear_fraction is not None and not 0.05 <= self.wear_fraction <= 1.0:
            raise ValueError(f"wear_fraction={self.wear_fraction!r} is out of range: use 0.05 to 1, or None")


@dataclass(frozen=True)
class Person:
    """Traits of one synthetic person, drawn once from :class:`SynthParams`."""

    baseline_ln_rmssd: float  # resting awake ln RMSSD (ln ms)
    hr_rest_bpm: float
    sleep_gain_ln: float
    sleep_hr_drop_bpm: float
    circadian_ln: float
    circadian_hr_bpm: float
    bedtime_h: float
    sleep_duration_h: float
    weekend_shift_h: float
    day_sd_ln: float
    resp_hz: float
    steps_per_day: float
    sessions_per_week: float
    session_hour: float  # preferred clock hour of exercise
    shower_hour: float  # clock hour of the daily shower (watch off)
    charge_every_days: float  # how often the watch goes on the charger
    charge_hour: float  # clock hour it does
    post_exercise_tau_min: float


def draw_person(rng: np.random.Generator, p: SynthParams) -> Person:
    def uni(r: Range) -> float:
        return float(rng.uniform(r[0], r[1]))

    bedtime_h = float(np.clip(rng.normal(*p.bedtime_h), 21.0, 26.0))
    duration_h = float(np.clip(rng.normal(*p.sleep_duration_h), 6.0, 9.0))
    wake_h = bedtime_h + duration_h - 24.0
    return Person(
        baseline_ln_rmssd=float(np.clip(rng.normal(*p.baseline_ln_rmssd), *p.baseline_ln_clip)),
        hr_rest_bpm=uni(p.hr_rest_bpm),
        sleep_gain_ln=uni(p.sleep_gain_ln),
        sleep_hr_drop_bpm=uni(p.sleep_hr_drop_bpm),
        circadian_ln=uni(p.circadian_ln),
        circadian_hr_bpm=uni(p.circadian_hr_bpm),
        bedtime_h=bedtime_h,
        sleep_duration_h=duration_h,
        weekend_shift_h=uni(p.weekend_shift_h),
        day_sd_ln=uni(p.day_sd_ln),
        resp_hz=uni(p.resp_hz),
        steps_per_day=uni(p.steps_per_day),
        sessions_per_week=uni(p.sessions_per_week),
        session_hour=float(rng.choice([wake_h + 1.0, 12.5, 18.0]) + rng.normal(0.0, 0.5)),
        shower_hour=float(rng.choice([wake_h + 0.5, bedtime_h - 1.0])),
        charge_every_days=uni((2.0, 5.0)),
        charge_hour=uni((9.0, 20.0)),
        post_exercise_tau_min=uni(p.post_exercise_tau_min),
    )
