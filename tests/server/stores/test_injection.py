"""Hostile user ids and tags through every read and write path of every adapter: refused, nothing leaks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from model.errors import BadUserId
from tests.support import store_cases as c
from tests.support.store_cases import ALICE, BOB, CAROL, T0, H

HOSTILE_IDS = [
    "alice' OR 1=1",
    "' OR ''='",
    'bob"; DROP MEASUREMENT "hrv"; "',
    "bob\\",
    "alice\nhrv,user=bob rmssd_ms=1 1",
    "alice,user=bob",
    "alice user=bob",
    'alice" or r.user == "bob',
    "${bob}",
    "/.*/",
    "",
    "-starts-with-dash",
    "a" * 65,
]


def every_call(store, user):
    """Each protocol method that takes a user id, called with ``user`` (alone or among good ids)."""
    frame = c.ALICE_1H.head(1)
    return [
        lambda: store.write_beats(user, np.array([T0]), np.array([800.0])),
        lambda: store.write_windows(user, frame),
        lambda: store.write_sleep(user, c.ALICE_SLEEP),
        lambda: store.write_activity(user, c.ALICE_ACTIVITY),
        lambda: store.write_forecasts(user, c.MODEL_A, c.ALICE_FORECAST_A),
        lambda: store.read_beats(user, T0, T0 + H),
        lambda: store.read_windows([ALICE, user], T0, T0 + 3 * H),
        lambda: store.read_windows(user, T0, T0 + 3 * H),
        lambda: store.read_sleep([user], T0, T0 + 3 * H),
        lambda: store.read_activity([user, BOB], T0, T0 + 3 * H),
        lambda: store.read_forecasts([user], T0, T0 + 6 * H),
        lambda: store.last_observation([BOB, user]),
        lambda: store.read_scores([ALICE, user]),
        lambda: store.write_forecasts_many(
            [(ALICE, c.MODEL_A, c.ALICE_FORECAST_A), (user, c.MODEL_A, c.ALICE_FORECAST_A)]
        ),
        lambda: store.write_scores(c.SCORES.assign(user=[ALICE, user, BOB])),
    ]


def test_hostile_ids_are_refused_everywhere_and_change_nothing(loaded):
    before = (loaded.list_users(), loaded.read_windows([ALICE, BOB, CAROL], T0, T0 + 3 * H))
    replay = getattr(loaded, "replay", None)
    sent = (len(replay.queries), len(replay.writes)) if replay is not None else None
    for user in HOSTILE_IDS:
        for call in every_call(loaded, user):
            with pytest.raises(BadUserId, match="is not valid"):
                call()
    if replay is not None:  # the Flux adapter refused before sending anything at all
        assert (len(replay.queries), len(replay.writes)) == sent
    after = (loaded.list_users(), loaded.read_windows([ALICE, BOB, CAROL], T0, T0 + 3 * H))
    assert before[0] == after[0] == [ALICE, BOB]
    for name in (ALICE, BOB):
        pd.testing.assert_frame_equal(before[1][name], after[1][name])
    if replay is not None:
        for user in filter(None, HOSTILE_IDS):
            assert not any(user.encode() in body for body in replay.writes)


MODEL_TAGS = ['m" OR r.user == "bob', "m',user=bob", "m user=bob", "m=1,x", "${m}", "lstm 0.1 (retrained)"]


@pytest.mark.parametrize("kind", ["sqlite", "influx1"])
def test_model_tags_with_quotes_and_separators_round_trip_exactly(make_store, kind):
    store = make_store(kind)
    store.write_forecasts(BOB, "plain", c.ALICE_FORECAST_B)
    for i, model in enumerate(MODEL_TAGS):
        store.write_forecasts(ALICE, model, c.ALICE_FORECAST_A.head(1).assign(time=T0 + i))
    got = store.read_forecasts([ALICE, BOB], T0, T0 + 6 * H)
    assert got[ALICE]["model"].tolist() == MODEL_TAGS  # sorted by time: one row per tag, exactly as written
    assert got[BOB]["model"].tolist() == ["plain"]  # nothing leaked into bob's series


@pytest.mark.parametrize("model", ["two\nlines", "ends\\", "", "x" * 129])
def test_model_tags_that_cannot_be_stored_are_refused(store, model):
    with pytest.raises(ValueError, match="cannot be stored"):
        store.write_forecasts(ALICE, model, c.ALICE_FORECAST_A)
