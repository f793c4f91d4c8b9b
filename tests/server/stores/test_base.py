"""The frame shapes every adapter shares (server/stores/base.py): a summary's step scores round-trip exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd

from server.stores.base import newest_per_user, step_scores_array, step_scores_text
from tests.support import store_cases as c


def test_step_scores_read_back_bit_for_bit():
    values = np.array([71.23456789012345, 0.1 + 0.2, 1e-300, np.nan, 100.0])
    back = step_scores_array(step_scores_text(values))
    assert back.tobytes() == values.tobytes()
    assert step_scores_array("").size == 0


def test_the_newest_summary_of_each_user_is_the_one_scored_last():
    """Not the one with the latest first step: a spot-reading user forecast daily (first step: tomorrow's
    midnight) who is then forecast hourly (first step: the next hour) has the hourly summary as the newest."""
    daily = c.SCORES.iloc[[2]].assign(user=c.ALICE, scored_ms=c.SCORES["scored_ms"].iloc[1] - 1)
    frame = pd.concat([c.SCORES, daily], ignore_index=True)
    newest = newest_per_user(frame)
    assert newest["user"].tolist() == [c.ALICE, c.BOB]
    assert newest["scored_ms"].tolist() == c.NEWEST_SCORES["scored_ms"].tolist()
    assert newest["resolution"].tolist() == ["1h", "1d"]
