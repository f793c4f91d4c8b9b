"""Readers of self-reports: how people said they felt, the outcomes the fatigue score is judged against.

Welltory's open data (``welltory_covid19``) has two kinds:

- ``hrv_measurements.csv``: every reading carries ``how_feel`` and ``how_mood`` (-2 very bad to 2 very good),
  answered in the app right after the reading; its time is the reading's ``measurement_datetime`` (taken as UTC,
  as the RR reader does).
- ``surveys.csv``: symptom ratings by day, e.g. ``S_COVID_FATIGUE`` from 1 (no symptom) to 6 (extremely severe);
  ``created_at`` is a date only.

User ids get the ``welltory-`` prefix that :mod:`model.training.datasets` gives the same people.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from model.errors import BadRRFile

USER_PREFIX = "welltory-"
FEELINGS = ("how_feel", "how_mood")  # -2 .. 2, higher is better
FATIGUE = "S_COVID_FATIGUE"  # 1 .. 6, higher is worse


def read_reading_reports(path: Path | str) -> pd.DataFrame:
    """Self-reports of every reading: ``user``, ``time_ms`` (int64 epoch ms UTC), ``how_feel``, ``how_mood``
    (float, NaN where unanswered), sorted by user and time."""
    path = Path(path)
    frame = _read(path, ("user_code", "measurement_datetime", *FEELINGS))
    out = pd.DataFrame(
        {
            "user": USER_PREFIX + frame["user_code"].astype(str),
            "time_ms": _epoch_ms(frame["measurement_datetime"], path),
            **{name: pd.to_numeric(frame[name], errors="coerce").astype("float64") for name in FEELINGS},
        }
    )
    return out.sort_values(["user", "time_ms"], kind="stable").reset_index(drop=True)


def read_survey(path: Path | str, scale: str = FATIGUE) -> pd.DataFrame:
    """One survey scale by day: ``user``, ``day_ms`` (int64, UTC midnight of ``created_at``), ``value`` (float)."""
    path = Path(path)
    frame = _read(path, ("user_code", "scale", "created_at", "value"))
    frame = frame[frame["scale"] == scale]
    out = pd.DataFrame(
        {
            "user": USER_PREFIX + frame["user_code"].astype(str),
            "day_ms": _epoch_ms(frame["created_at"], path),
            "value": pd.to_numeric(frame["value"], errors="coerce").astype("float64"),
        }
    )
    out = out[np.isfinite(out["value"])]
    return out.sort_values(["user", "day_ms"], kind="stable").reset_index(drop=True)


def _read(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    if not path.is_file():
        raise BadRRFile(str(path), "no such file", fix="point --data-dir at the folder holding welltory_covid19/")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise BadRRFile(str(path), f"the header lacks {', '.join(missing)}", fix="use the Welltory open data files")
    return frame


def _epoch_ms(values: pd.Series, path: Path) -> np.ndarray:
    times = pd.to_datetime(values, utc=True, errors="coerce")
    if times.isna().any():
        bad = values[times.isna()].iloc[0]
        raise BadRRFile(str(path), f"{bad!r} is not a date or time", fix="use ISO dates such as 2020-04-23")
    return (times.astype("int64") // 1_000_000).to_numpy(dtype=np.int64)
