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
        ([[100_000_000_000, 800.0]], "between 1990 and now"),
        ([[99_999_999_999_999, 800.0]], "between 1990 and now"),
    ],
)
def test_a_push_refused_as_a_whole_stores_nothing(client, store, beats, words):
    r = client.post("/api/v1/rr", json={"user": "refused", "beats": beats})
    assert r.status_code == 422 and words in r.get_json()["message"]
    assert "refused" not in store.list_users()
