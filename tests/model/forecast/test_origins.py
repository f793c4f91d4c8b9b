"""One user's inputs at many origins from one grid equal the inputs of the history cut at each origin, bit for
bit: ``origins.inputs_at`` against ``grids.batch_inputs`` of ``UserHistory.until`` copies (hourly and daily
steps; sleep that starts long before the lookback, a tracking gap, a night ongoing at an origin, naps that
overlap a night; invalid and missing hours; activity with gaps; origins before any window)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from model.forecast.grids import batch_inputs
from model.forecast.origins import inputs_at
from model.history import UserHistory
from tests.support.histories import START_MS, hourly_history

H = 3_600_000
DAYS = 30


def history(seed: int, *, sleep: bool = True, activity: bool = True) -> UserHistory:
    rng = np.random.default_rng(seed)
    h = hourly_history("u", days=DAYS, seed=seed, missing_fraction=0.25)
    windows = h.windows.copy()
    windows.loc[rng.random(len(windows)) < 0.1, "valid"] = False
    kwargs = {}
    if sleep:
        nights = [START_MS + d * 24 * H + 22 * H + int(rng.integers(0, 3 * H)) for d in range(DAYS)]
        keep = [d for d in range(DAYS) if not 9 <= d < 15]  # a week without tracking
        starts = [nights[d] for d in keep] + [START_MS + 20 * 24 * H + 27 * H]  # a nap inside a night
        ends = [nights[d] + int(rng.integers(5 * H, 9 * H)) for d in keep] + [starts[-1] + H]
        kwargs["sleep"] = pd.DataFrame({"start": starts, "end": ends, "duration_min": 400.0})
    if activity:
        hours = START_MS + H * np.arange(DAYS * 24, dtype=np.int64)
        mask = rng.random(hours.size) < 0.6
        kwargs["activity"] = pd.DataFrame(
            {
                "time": hours[mask],
                "steps": rng.integers(0, 3000, mask.sum()).astype(float),
                "heart_rate_bpm": rng.normal(70, 8, mask.sum()),
            }
        )
    return UserHistory("u", windows, **kwargs)


def assert_same(history_, origins, lookback_h, resolution="1h"):
    got, meta = inputs_at(history_, origins, lookback_h, resolution=resolution)
    cuts = [history_.until(int(o)) for o in origins]
    want, want_meta = batch_inputs(cuts, origins, lookback_h, resolution=resolution)
    np.testing.assert_array_equal(got, want)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(meta.end_ms, want_meta.end_ms)
    np.testing.assert_array_equal(meta.last_observed_ms, want_meta.last_observed_ms)
    np.testing.assert_array_equal(meta.n_valid, want_meta.n_valid)
    assert meta.users == want_meta.users and meta.step_ms == want_meta.step_ms


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("parts", [{}, {"sleep": False}, {"activity": False}])
def test_every_hourly_origin_equals_the_cut_history(seed, parts):
    origins = START_MS + H * np.arange(2 * 24, DAYS * 24 + 1, 1, dtype=np.int64)  # some before a full lookback
    assert_same(history(seed, **parts), origins, 168)


def test_unordered_and_repeated_origins_and_none_before_the_data():
    origins = np.array([START_MS + 400 * H, START_MS - 10 * H, START_MS + 100 * H, START_MS + 400 * H])
    assert_same(history(2), origins, 168)


def test_daily_steps_are_equal_too():
    origins = START_MS + 24 * H * np.arange(3, DAYS + 1, dtype=np.int64)
    assert_same(history(3), origins, 14 * 24, resolution="1d")


def test_no_origin_gives_an_empty_batch():
    x, meta = inputs_at(history(0), [], 168)
    assert x.shape[0] == 0 and meta.users == ()


def test_small_sleep_chunks_give_the_same_inputs(monkeypatch):
    from model.forecast import origins

    monkeypatch.setattr(origins, "_CHUNK_CELLS", 20_000)  # a few origins per chunk
    assert_same(history(4), START_MS + H * np.arange(24, DAYS * 24, 7, dtype=np.int64), 168)


def test_sleep_read_from_a_later_time_is_left_out_as_the_store_would():
    h = history(5)
    origins = START_MS + H * np.arange(24, DAYS * 24, 5, dtype=np.int64)
    after = origins - 192 * H  # a live forecast reads the episodes overlapping its lookback and a day before
    got, _ = inputs_at(h, origins, 168, sleep_after_ms=after)
    cuts = []
    for o, a in zip(origins, after, strict=True):
        cut = h.until(int(o))
        cuts.append(UserHistory(cut.user, cut.windows, cut.sleep[cut.sleep["end"] > a], cut.activity))
    want, _ = batch_inputs(cuts, origins, 168)
    np.testing.assert_array_equal(got, want)
    assert not np.array_equal(inputs_at(h, origins, 168)[0], want), "the older episodes change some inputs"
