import pandas as pd

from model.history import UserHistory


def test_last_observation_is_the_newest_window_whatever_the_row_order():
    starts = [1_704_067_200_000 + h * 3_600_000 for h in range(5)]  # 2024-01-01 00:00 ... 04:00 UTC
    reversed_rows = pd.DataFrame({"start": starts[::-1], "rmssd_ms": [40.0] * 5})
    assert UserHistory("u1", reversed_rows).last_observed_ms == starts[-1]
    assert UserHistory("u1", reversed_rows.iloc[:0]).last_observed_ms is None
