"""The hour in progress is not an input (attack review 5, H1).

A strap streams beats into the current hour. That hour's window was invalid for its first 30 minutes (less than
half of it held beats) and valid after, and the forecast started after it either way: in the first half it had
lost its newest hour, in the second it read 30 minutes as an hour. The score and the lowest hour ahead swung
twice an hour by 15-35 points across the alert line, and the write-back scorer, which scores a strap user once
an hour, stored the first-half version only, so the InfluxDB rule and the REST rule disagreed. Now the forecast
starts at the current hour, from the hours that have ended, and is the same all hour, live and written back.
"""

from __future__ import annotations

import numpy as np
import pytest

from server.pipeline.scorer import Scorer
from server.web.clock import CLOCK
from tests.support.served import END_MS, H

MINUTE = 60_000


def _beats(start_ms: int, minutes: int) -> list[list]:
    """A strap's beats over ``minutes`` from ``start_ms``: 800 ms with a breathing wave and noise."""
    rng = np.random.default_rng(3)
    n = minutes * MINUTE // 800
    rr = 800 + 40 * np.sin(np.arange(n) * 2 * np.pi / 5) + rng.normal(0, 15, n)
    times = start_ms + np.cumsum(rr).astype(np.int64)
    return [[int(t), round(float(r), 1)] for t, r in zip(times, rr, strict=True)]


def _at(app, client, minutes_into_hour: float, beats: list[list]) -> dict:
    app.extensions[CLOCK] = lambda: (END_MS + minutes_into_hour * MINUTE) / 1000
    pushed = client.post("/api/v1/rr", json={"user": "u1", "beats": beats})
    assert pushed.status_code == 200, pushed.get_json()
    (row,) = client.get("/api/v1/score?user=u1").get_json()
    forecast = client.get("/api/v1/forecast?user=u1").get_json()
    return row | {"first_ms": forecast[0]["time_ms"], "p50": [r["rmssd_p50"] for r in forecast]}


def test_the_score_holds_still_while_the_hour_fills_and_the_scorer_writes_what_is_shown(app, client, store):
    stream = _beats(END_MS, 58)  # the hour after u1's newest window, as a strap streams it
    shown = []
    for minutes in (1, 10, 29, 31, 45, 59):
        shown.append(_at(app, client, minutes, [b for b in stream if b[0] < END_MS + (minutes - 0.5) * MINUTE]))
    assert {s["first_ms"] for s in shown} == {END_MS}  # the hour in progress is the first forecast step
    for s in shown[1:]:
        assert (s["score"], s["min_score"], s["zone"]) == (shown[0]["score"], shown[0]["min_score"], shown[0]["zone"])
        assert s["p50"] == pytest.approx(shown[0]["p50"])
    service = app.extensions["hrvcast"].forecast_service()
    scorer = Scorer(store, service, write_back=True, clock=lambda: (END_MS + 2 * MINUTE) / 1000)
    scorer.run_round(users=["u1"])  # a round early in the hour, as the scorer's are
    stored = store.read_scores(["u1"]).iloc[0]
    assert float(stored["score"]) == pytest.approx(shown[-1]["score"], abs=1e-3)  # what the dashboard shows at :59
    app.extensions[CLOCK] = lambda: (END_MS + H + MINUTE) / 1000  # the hour has ended: it is an input now
    after = client.get("/api/v1/forecast?user=u1").get_json()
    assert after[0]["time_ms"] == END_MS + H


def test_a_strap_taken_off_in_the_middle_of_an_hour_is_rescored_once_the_hour_has_ended(app, client, store):
    """The write-back round early in the hour forecast without the hour in progress. The strap came off at :20,
    so no newer window ever makes the user due; once the hour has ended it is an input, and the next round
    rescores from it, so the stored forecast (what the InfluxDB alert rule reads) is the live one, not a day
    later (rescore_after)."""
    service = app.extensions["hrvcast"].forecast_service()
    _at(app, client, 21, _beats(END_MS, 20))  # 20 minutes of beats, then nothing
    Scorer(store, service, write_back=True, clock=lambda: (END_MS + 21 * MINUTE) / 1000).run_round(users=["u1"])
    assert int(store.read_scores(["u1"]).iloc[0]["first_ms"]) == END_MS
    later = Scorer(store, service, write_back=True, clock=lambda: (END_MS + H + 10 * MINUTE) / 1000)
    assert [u for u, _ in later.plan(["u1"]).due] == ["u1"]
    later.run_round(users=["u1"])
    stored = store.read_scores(["u1"]).iloc[0]
    app.extensions[CLOCK] = lambda: (END_MS + H + 10 * MINUTE) / 1000
    (row,) = client.get("/api/v1/score?user=u1").get_json()
    assert int(stored["first_ms"]) == row["time_ms"] == END_MS + H
    assert float(stored["score"]) == pytest.approx(row["score"], abs=1e-3)
    settled = Scorer(store, service, write_back=True, clock=lambda: (END_MS + H + 25 * MINUTE) / 1000)
    assert settled.plan(["u1"]).due == ()  # and not again every round
