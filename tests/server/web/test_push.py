"""``POST /api/v1/rr`` as a gateway sees it: counts that are what is stored, and refusals that store nothing."""

from __future__ import annotations

import pytest

from tests.support.served import END_MS, H


def test_a_beat_sent_three_times_is_one_beat_and_says_so(client, store):
    t = END_MS + 10 * H
    r = client.post("/api/v1/rr", json={"user": "triple", "beats": [[t, 800.0], [t, 800.0], [t, 800.0]]})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["beats"] == r.get_json()["written"] == 1 and r.get_json()["duplicates"] == 2
    assert store.read_beats("triple", 0, 2**62)[0].tolist() == [t]


@pytest.mark.parametrize(
    ("beats", "words"),
    [
        ([[END_MS, 800.0], [END_MS, 810.0]], "with another interval"),
        ([[END_MS, 800.0], [END_MS + 1000, 1e-300]], "not 20 ms to 1 h"),
        ([[100_000_000_000, 800.0]], "from 1990 to an hour ahead of now"),
        ([[99_999_999_999_999, 800.0]], "from 1990 to an hour ahead of now"),
    ],
)
def test_a_push_refused_as_a_whole_stores_nothing(client, store, beats, words):
    r = client.post("/api/v1/rr", json={"user": "refused", "beats": beats})
    assert r.status_code == 422 and words in r.get_json()["message"]
    assert "refused" not in store.list_users()


def test_beats_dated_hours_ahead_are_refused_naming_the_clock_and_minutes_ahead_are_kept(client, store):
    """One push dated 40 h ahead (a clock off, local time sent as UTC) once moved a user's forecast origin past
    the hours an alert watches; a device clock a few minutes fast is normal."""
    import time

    now = int(time.time() * 1000)
    ahead = [[now + 40 * H + 800 * k, 800.0] for k in range(10)]
    r = client.post("/api/v1/rr", json={"user": "clock", "beats": ahead})
    assert r.status_code == 422 and "local time sent as UTC" in r.get_json()["message"]
    assert "clock" not in store.list_users()
    fast = [[now + 10 * 60_000 + 800 * k, 800.0] for k in range(10)]
    assert client.post("/api/v1/rr", json={"user": "clock", "beats": fast}).status_code == 200
