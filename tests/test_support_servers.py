import json
import urllib.parse
import urllib.request


def test_influxd_answers_influxql_on_loopback(influxd_server):
    q = urllib.parse.urlencode({"q": 'CREATE DATABASE "probe"'})
    with urllib.request.urlopen(urllib.request.Request(f"{influxd_server.url}/query?{q}", method="POST")) as r:
        assert r.status == 200
    q = urllib.parse.urlencode({"q": "SHOW DATABASES"})
    with urllib.request.urlopen(f"{influxd_server.url}/query?{q}") as r:
        names = [row[0] for row in json.load(r)["results"][0]["series"][0]["values"]]
    assert "probe" in names


def test_redis_answers_ping(redis):
    import redis as redis_lib

    client = redis_lib.Redis.from_url(redis.url())
    assert client.ping() is True
