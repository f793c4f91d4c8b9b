"""A morning reader who also records workouts with a chest strap under the same user id (attack review 4, H1).

Generated beats only: 21 mornings of 2-minute readings (``tests/support/spot.py``), and for one of two users
three 40-minute strap workouts in the last week (about 143 bpm, RMSSD about 5 ms), both ingested from CSV files
with ``hrvcast ingest``; the app serves the shipped checkpoints. The workouts' 5-minute pieces were averaged
with the mornings: those days read 6 ms instead of about 45, and the score went from green 72 to red 8. A third
user skipped the mornings of the workout days: those days were the workout's alone, a daily value of about 5 ms.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model.hrv.windows import compute_windows
from server.cli import main
from server.settings import DEFAULT_DAILY_MODEL, DEFAULT_MODEL, Settings
from server.stores.sqlite import SQLiteStore
from server.web.app import create_app
from server.web.clock import CLOCK
from tests.support.beats import write_csv
from tests.support.served import TOKEN
from tests.support.spot import spot_beats

DAY_MS = 86_400_000
FIRST_DAY_MS = 1_764_892_800_000  # 2025-12-05T00:00:00Z: 21 mornings, the last on 2025-12-25


def _workouts(days: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """40 minutes at 10:00 UTC of each of ``days`` (counted from FIRST_DAY_MS): about 143 bpm, RMSSD about 5 ms."""
    rng = np.random.default_rng(5)
    times, ibis = [], []
    for day in days:
        ibi = 420.0 + rng.normal(0, 3.5, 5700)
        times.append(FIRST_DAY_MS + day * DAY_MS + 10 * 3_600_000 + np.cumsum(ibi).astype(np.int64))
        ibis.append(ibi)
    return np.concatenate(times), np.concatenate(ibis)


def test_workouts_recorded_with_a_strap_do_not_turn_a_morning_readers_score_red(tmp_path, monkeypatch):
    torch.set_num_threads(1)
    mornings = spot_beats(FIRST_DAY_MS, 21, seed=11)  # a steady person: no drop
    workouts = _workouts((16, 18, 20))
    both = [np.concatenate(v) for v in zip(mornings, workouts, strict=True)]
    order = np.argsort(both[0], kind="stable")
    write_csv(tmp_path / "steady.csv", *mornings)
    write_csv(tmp_path / "workouts.csv", both[0][order], both[1][order])
    # the third user skipped the mornings of the workout days: those days hold the workout alone
    day_of = (mornings[0] - FIRST_DAY_MS) // DAY_MS
    kept = ~np.isin(day_of, (16, 18, 20))
    skips = [np.concatenate(v) for v in zip((mornings[0][kept], mornings[1][kept]), workouts, strict=True)]
    order_skips = np.argsort(skips[0], kind="stable")
    write_csv(tmp_path / "skips.csv", skips[0][order_skips], skips[1][order_skips])
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    monkeypatch.setenv("HRVCAST_STORE", url)
    assert main(["ingest", "--user", "steady", str(tmp_path / "steady.csv")]) == 0
    assert main(["ingest", "--user", "trains", str(tmp_path / "workouts.csv")]) == 0
    assert main(["ingest", "--user", "skips", str(tmp_path / "skips.csv")]) == 0
    store = SQLiteStore(tmp_path / "store.sqlite")
    settings = Settings(store=url, model=DEFAULT_MODEL, daily_model=DEFAULT_DAILY_MODEL, api_token=TOKEN)
    app = create_app(settings, store=store)
    app.extensions[CLOCK] = lambda: (FIRST_DAY_MS + 21 * DAY_MS + 20 * 60_000) / 1000  # the next midnight
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {TOKEN}"
    rows = {r["user"]: r for r in client.get("/api/v1/score?user=steady,trains,skips").get_json()}
    assert {u: r["resolution"] for u, r in rows.items()} == {"steady": "1d", "trains": "1d", "skips": "1d"}
    assert rows["trains"]["zone"] == rows["steady"]["zone"] == rows["skips"]["zone"] != "red"
    assert rows["trains"]["score"] == pytest.approx(rows["steady"]["score"], abs=1.0)
    skipped = store.read_windows(["skips"], 0, 2**62, "1d")["skips"]  # a workout alone makes no resting value
    alone = skipped["start"].isin([FIRST_DAY_MS + d * DAY_MS for d in (16, 18, 20)]).to_numpy()
    assert alone.sum() == 3 and not skipped["valid"].to_numpy()[alone].any()
    stored = store.read_windows(["trains"], 0, 2**62, "1d")["trains"]  # what ingest wrote: as from the file
    from_file = compute_windows(both[0][order], np.round(both[1][order], 1), "1d")  # the CSV holds 0.1 ms
    np.testing.assert_allclose(stored["ln_rmssd"], from_file["ln_rmssd"])
    workout_days = stored["start"].isin([FIRST_DAY_MS + d * DAY_MS for d in (16, 18, 20)])
    steady = store.read_windows(["steady"], 0, 2**62, "1d")["steady"]
    np.testing.assert_allclose(stored["ln_rmssd"][workout_days], steady["ln_rmssd"][workout_days.to_numpy()])
    store.close()
