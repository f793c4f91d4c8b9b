"""``POST /api/v1/rr`` as a gateway sees it: counts that are what is stored, and refusals that store nothing."""

from __future__ import annotations

import numpy as np
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


def test_a_push_that_repeats_a_block_of_its_beats_names_the_beat_it_repeats(client, store):
    """A gateway appending its retry sent beats 20-119 again after beat 119: "the clock goes backwards" did not
    say that sorting makes them exact repeats, which are merged (attack review 3)."""
    t0 = END_MS - 6 * H
    block = [[t0 + 800 * k, 800.0 + k % 5] for k in range(119)]
    r = client.post("/api/v1/rr", json={"user": "retry", "beats": block + block[19:]})
    assert r.status_code == 422, r.get_json()
    assert (
        f"beat 120 [{t0 + 800 * 19}, 804]: repeats beat 20 (same time and interval): send each beat once, or sort "
        "them (exact repeats are merged)"
    ) in r.get_json()["message"]
    assert "retry" not in store.list_users()
    sorted_ = client.post("/api/v1/rr", json={"user": "retry", "beats": sorted(block + block[19:])})
    assert sorted_.status_code == 200 and sorted_.get_json()["beats"] == 119 and sorted_.get_json()["duplicates"] == 100


@pytest.mark.parametrize(
    "beats",
    [
        [[END_MS, 800.0], [END_MS + 800, 800.0], [END_MS + 400, 800.0]],  # a time between two earlier ones
        [[END_MS, 800.0], [END_MS + 800, 800.0], [END_MS, 810.0]],  # an earlier time, another interval
    ],
    ids=["between", "another-interval"],
)
def test_a_clock_that_goes_backwards_without_repeating_a_beat_says_so(client, store, beats):
    r = client.post("/api/v1/rr", json={"user": "backwards", "beats": beats})
    assert r.status_code == 422
    assert "beat 3 [" in r.get_json()["message"]
    assert "the clock goes backwards (send beats sorted by time)" in r.get_json()["message"]
    assert "backwards" not in store.list_users()


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


def test_an_hour_sent_again_with_shifted_times_keeps_the_stored_beats_and_the_window(client, store):
    """A gateway re-sending an hour with its times rounded or recomputed (here every time 1 ms later) once doubled
    the hour's beats and changed its RMSSD, the window still valid. The stored beats win; the reply says how many
    were sent again."""
    t0 = END_MS - 20 * H
    rng = np.random.default_rng(3)
    ibi = 800.0 + rng.normal(0, 40, 4400)
    times = t0 + np.cumsum(ibi).astype("int64")
    beats = [[int(t), float(i)] for t, i in zip(times, ibi, strict=True)]
    assert client.post("/api/v1/rr", json={"user": "resend", "beats": beats}).status_code == 200
    before = store.read_windows(["resend"], 0, 2**62)["resend"]
    again = client.post("/api/v1/rr", json={"user": "resend", "beats": [[t + 1, i] for t, i in beats]})
    assert again.status_code == 200, again.get_json()
    assert again.get_json()["duplicates"] == len(beats) and again.get_json()["written"] == 0
    assert store.read_beats("resend", 0, 2**62)[0].tolist() == times.tolist()
    after = store.read_windows(["resend"], 0, 2**62)["resend"]
    assert after[["start", "n_beats", "rmssd_ms", "valid"]].equals(before[["start", "n_beats", "rmssd_ms", "valid"]])


def test_one_beat_sent_twice_in_a_push_with_shifted_times_is_refused(client, store):
    t = END_MS - 10 * H
    r = client.post("/api/v1/rr", json={"user": "twice", "beats": [[t, 800.0], [t + 1, 800.0], [t + 800, 800.0]]})
    assert r.status_code == 422 and "one beat sent twice with shifted times" in r.get_json()["message"]
    assert "twice" not in store.list_users()


@pytest.mark.parametrize(
    ("body", "says"),
    [("not json", "body: is not valid JSON"), ("[[1, 800]]", "body: must be a JSON object, not a JSON list")],
)
def test_a_body_that_is_not_a_json_object_is_named_as_such(client, body, says):
    r = client.post("/api/v1/rr", data=body, content_type="application/json")
    assert r.status_code == 400 and says in r.get_json()["message"] and '{"user": ID' in r.get_json()["message"]


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ('{{"user": "dup-a", "user": "dup-b", "beats": [[{t}, 800]]}}', "user"),
        ('{{"user": "dup-a", "beats": [[{t}, 800]], "beats": [[{t}, 900]]}}', "beats"),
        ('{{"user": "dup-a", "beats": [[{t}, 800]], "device": {{"name": "h10", "name": "h9"}}}}', "name"),
    ],
    ids=["user", "beats", "nested"],
)
def test_a_key_given_twice_is_refused_naming_it_and_stores_nothing(client, store, body, key):
    """json kept the last of two ``user`` keys: the push was stored for ``dup-b``, while a proxy that checks the
    first key would have let it through as ``dup-a`` (attack review 3). Nested objects are checked too."""
    users = store.list_users()
    r = client.post("/api/v1/rr", data=body.format(t=END_MS - 2 * H), content_type="application/json")
    assert r.status_code == 400, r.get_json()
    assert f"duplicate key '{key}' in the JSON body: send each field once" in r.get_json()["message"]
    assert store.list_users() == users


def test_the_duplicate_key_check_runs_once_for_the_largest_push(monkeypatch):
    """The check runs once per JSON object, and 200,000 beats are arrays: the largest push costs one call, so its
    parse costs what it did (measured: 180 ms either way for 4.8 MB), and it reads the same values."""
    import json

    from server.web import json_body
    from server.web.schemas import MAX_BEATS

    calls = []
    check = json_body._each_key_once
    monkeypatch.setattr(json_body, "_each_key_once", lambda pairs: calls.append(len(pairs)) or check(pairs))
    body = json.dumps({"user": "big", "beats": [[END_MS + 800 * k, 800.0] for k in range(MAX_BEATS)]}).encode()
    assert json_body.loads_each_key_once(body) == json.loads(body)
    assert calls == [2]


def test_a_key_the_push_does_not_know_is_accepted_and_named_in_the_reply(client, store):
    """A gateway may add its own keys, so they are accepted; but sleep sent along with the beats was dropped
    without a word (attack review 3): the reply names what it did not read, sorted, and [] when nothing."""
    t = END_MS - 3 * H
    body = {"user": "extra", "sleep": [[t - H, t]], "beats": [[t, 800.0]], "device": "polar h10"}
    r = client.post("/api/v1/rr", json=body)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["ignored"] == ["device", "sleep"]
    assert store.read_beats("extra", 0, 2**62)[0].tolist() == [t]
    plain = client.post("/api/v1/rr", json={"user": "extra", "beats": [[t + 800, 800.0]]})
    assert plain.status_code == 200 and plain.get_json()["ignored"] == []
    reply = client.get("/openapi.json").get_json()["components"]["schemas"]["IngestReply"]["properties"]
    assert reply["ignored"]["type"] == "array" and "not stored" in reply["ignored"]["description"]


def test_a_push_spread_over_more_hours_than_a_push_may_touch_is_refused_and_stores_nothing(client, store):
    """200,000 beats an hour apart once held the store's write lock for 45 s, failing every other push."""
    from server.pipeline.ingest import MAX_PUSH_HOURS

    sparse = [[END_MS - (MAX_PUSH_HOURS + 1 - k) * H, 800.0] for k in range(MAX_PUSH_HOURS + 1)]
    r = client.post("/api/v1/rr", json={"user": "sparse", "beats": sparse})
    assert r.status_code == 422 and f"more than {MAX_PUSH_HOURS} in one push" in r.get_json()["message"]
    assert "sparse" not in store.list_users()
    assert client.post("/api/v1/rr", json={"user": "sparse", "beats": sparse[1:]}).status_code == 200


def test_a_stored_beat_sent_again_with_another_interval_is_refused_naming_both(client, store):
    """It silently rewrote the stored interval, where the same conflict inside one push is refused."""
    t0 = END_MS - 30 * H
    first = [[t0 + 800 * k, 800.0] for k in range(10)]
    assert client.post("/api/v1/rr", json={"user": "conflict", "beats": first}).status_code == 200
    r = client.post("/api/v1/rr", json={"user": "conflict", "beats": [[t0, 900.0]]})
    assert r.status_code == 422
    assert f"beat 1 [{t0}, 900]: a beat is stored at that time with the interval 800 ms" in r.get_json()["message"]
    assert store.read_beats("conflict", 0, 2**62)[1].tolist() == [800.0] * 10
    same = client.post("/api/v1/rr", json={"user": "conflict", "beats": first})  # sent again as stored: fine
    assert same.status_code == 200 and same.get_json()["written"] == 10


def test_beats_checked_against_the_store_in_chunks_name_the_right_beat_and_keep_the_rest(client, store, monkeypatch):
    """A big file is checked against the stored beats a chunk at a time (bounded memory); chunk edges must not
    change which beats are dropped or which one a refusal names."""
    import server.pipeline.ingest as ingest

    monkeypatch.setattr(ingest, "STORED_CHUNK", 7)
    t0 = END_MS - 40 * H
    first = [[t0 + 800 * k, 800.0] for k in range(30)]
    assert client.post("/api/v1/rr", json={"user": "chunks", "beats": first}).status_code == 200
    shifted = [[t + 3, i] for t, i in first[:20]] + [[t0 + 800 * k, 800.0] for k in range(30, 40)]
    r = client.post("/api/v1/rr", json={"user": "chunks", "beats": shifted})
    assert r.status_code == 200 and r.get_json()["duplicates"] == 20 and r.get_json()["written"] == 10
    assert store.read_beats("chunks", 0, 2**62)[0].tolist() == [t0 + 800 * k for k in range(40)]
    conflict = [[t0 + 800 * k, 800.0] for k in range(40)]
    conflict[17][1] = 900.0
    r = client.post("/api/v1/rr", json={"user": "chunks", "beats": conflict})
    assert r.status_code == 422 and f"beat 18 [{t0 + 800 * 17}, 900]" in r.get_json()["message"]


def test_a_spurious_beat_whose_interval_matches_its_gap_is_kept_for_the_cleaning(client, store):
    """A 30 ms beat stamped 30 ms after the last one is an artifact the cleaning handles, not a beat sent twice."""
    t = END_MS - 12 * H
    beats = [[t, 800.0], [t + 30, 30.0], [t + 830, 800.0]]
    r = client.post("/api/v1/rr", json={"user": "spurious", "beats": beats})
    assert r.status_code == 200, r.get_json()
    assert store.read_beats("spurious", 0, 2**62)[0].tolist() == [t, t + 30, t + 830]


@pytest.mark.parametrize("shift_ms", [1_000, 20_000])
def test_a_reading_sent_again_with_its_start_moved_is_refused_and_changes_nothing(client, store, shift_ms):
    """A phone that restamps a reading on retry (its start a second or 20 s later) sent beats that fall between
    the stored ones: merged, the day held two impossible streams and its RMSSD rose 12 % (attack review M3).
    A stored beat inside a new beat's interval is now a 422 naming both, and nothing is written; the stored
    reading sent again as it is still changes nothing."""
    t0 = END_MS - 20 * H
    rng = np.random.default_rng(4)
    ibi = np.round(900.0 + rng.normal(0, 40, 150))
    times = t0 + np.cumsum(ibi).astype("int64")
    beats = [[int(t), float(i)] for t, i in zip(times, ibi, strict=True)]
    assert client.post("/api/v1/rr", json={"user": "restamp", "beats": beats}).status_code == 200
    day = store.read_windows(["restamp"], 0, 2**62, "1d")["restamp"]
    moved = client.post("/api/v1/rr", json={"user": "restamp", "beats": [[t + shift_ms, i] for t, i in beats]})
    assert moved.status_code == 422, moved.get_json()
    message = moved.get_json()["message"]
    assert "falls inside its interval" in message and "hrvcast delete" in message
    assert store.read_beats("restamp", 0, 2**62)[0].tolist() == times.tolist()
    assert store.read_windows(["restamp"], 0, 2**62, "1d")["restamp"].equals(day)
    assert client.post("/api/v1/rr", json={"user": "restamp", "beats": beats}).status_code == 200


def test_a_push_with_one_bad_field_per_beat_names_a_few_and_counts_the_rest(client, store):
    """Microsecond times on every one of 2,000 beats: one short message that says what the unit is and how many
    more beats share the problem (200,000 such beats once answered a 16 MB error, three times the request)."""
    import time

    now_us = int(time.time() * 1_000_000)
    beats = [[now_us - 3_600_000_000 + k * 800_000, 800.0] for k in range(2000)]
    r = client.post("/api/v1/rr", json={"user": "micro", "beats": beats})
    message = r.get_json()["message"]
    assert r.status_code == 400 and len(message) < 1000, len(message)
    assert "looks like microseconds: send milliseconds since 1970 (divide by 1,000)" in message
    assert "and 1,995 more of 2,000 problems" in message
    assert "micro" not in store.list_users()
