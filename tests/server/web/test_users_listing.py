"""The user listing after ``hrvcast delete``: on a real influxd 1.6 (whose index keeps a deleted user's tag value
for minutes, influxdata/influxdb #14904) and on SQLite, a deleted user leaves ``GET /api/v1/users`` and Grafana's
user variable, and a second delete says that nothing is stored."""

from __future__ import annotations

import pytest

from server.cli import main
from server.settings import Settings
from server.stores import open_store
from server.web.app import create_app
from tests.support.grafana import post
from tests.support.served import END_MS, TOKEN, hourly_windows
from tests.support.servers import unique_db

KEPT = "zz3"
DELETED = ("zz1", "zz2", "c" * 64)  # ids that influxd 1.6.7 kept listing after their DELETE in attack review 4


@pytest.fixture(params=["sqlite", "influx1"])
def store_url(request, tmp_path, monkeypatch):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'listing.sqlite'}"
    else:
        url = request.getfixturevalue("influxd_server").store_url(unique_db())
    store = open_store(url)
    try:
        for seed, user in enumerate((KEPT, *DELETED)):
            store.write_windows(user, hourly_windows(seed, END_MS, 48))
    finally:
        store.close()
    monkeypatch.setenv("HRVCAST_STORE", url)
    return url


def test_a_deleted_user_leaves_the_listing_at_once_and_a_second_delete_says_nothing_is_stored(
    store_url, forecaster, checkpoint_path, capsys
):
    for user in DELETED:
        assert main(["delete", "--user", user, "--yes"]) == 0
    capsys.readouterr()
    for user in DELETED:  # on influxd some still listed said "deleted every stored point" (exit 0) again
        assert main(["delete", "--user", user, "--yes"]) == 2
        assert f"user {user!r} has no data" in capsys.readouterr().err
    store = open_store(store_url)
    try:
        app = create_app(
            Settings(store=store_url, model=str(checkpoint_path), api_token=TOKEN), store=store, forecaster=forecaster
        )
        client = app.test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {TOKEN}"
        assert [row["user"] for row in client.get("/api/v1/users").get_json()] == [KEPT]
        variable = post(client, "/grafana/variable", {"payload": {"target": "users"}}).get_json()
        assert [v["__value"] for v in variable] == [KEPT]
        options = post(client, "/grafana/metric-payload-options", {"metric": "rmssd", "payload": {}, "name": "user"})
        assert [o["value"] for o in options.get_json()] == ["*", KEPT]
        assert post(client, "/grafana/tag-values", {"key": "user"}).get_json() == [{"text": KEPT}]
    finally:
        store.close()
