"""Scale benchmark (issue 17): population views and scoring rounds at 1,000 and 10,000 users, each figure beside
its single-process or bare peer from the same run.

    nice -n 10 .venv/bin/python bench/scale.py [--users 1000,10000] [--stores sqlite,influx] [--celery-users 1000]

Per store (a temporary SQLite file; a real influxd 1.6.7 on loopback) and number of users:
- the write-back scoring round in one process (users/s), and the next round with no new data (incremental);
- through the real ``hrvcast serve`` (gunicorn, 2 workers, a real redis-server), cold (first request after the
  start, Redis empty) and warm (median of 5): ``GET /api/v1/score`` for every user, the overview's table
  (``fatigue_zone``) and tiles (``fatigue_score``, hourly) for every user (`{"user": "*"}`, what "All" sends);
  peer: the bare store read of every user's stored score in this process;
- the busiest worker's peak RSS (VmHWM) after those requests (goal < 600 MB);
- on influxd: ``last_observation`` of N named users as one regex (what the adapter sends) against the ``OR``
  list it used to send (peer, up to 3,000 users: 10,000 took 26 s).
Celery (SQLite, ``--celery-users``): the same round with 1 and 2 real ``celery worker`` processes against the
single-process round on identical copies of the store, then a round after 10 % of the users got a new hour.

Data: 10 synthetic people (``model.synth.generator``), 8 days of hourly windows, sleep and activity, copied under
every user id (each id is its own forecast). Model: the shipped checkpoint, else a tiny one trained here.
Bounded: fixed sizes, a few requests each, every server on loopback and stopped at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.server import model_path  # noqa: E402  (the checkpoint choice of the server benchmark)
from model.schema import HOUR_MS  # noqa: E402
from server.stores import influxql, lineprotocol, open_store  # noqa: E402
from tests.support import servers  # noqa: E402
from tests.support.gunicorn import gunicorn as run_gunicorn  # noqa: E402

TOKEN = "bench-token-0123456789abcdef"
DAYS = 8


def people(end_ms: int, n: int = 10) -> list:
    from model.synth.generator import hourly_history, user_rng

    return [hourly_history(f"p{i}", end_ms - DAYS * 24 * HOUR_MS, end_ms, user_rng(11, i))[0] for i in range(n)]


def fill(store, users: list[str], end_ms: int) -> None:
    """Every user gets one synthetic person's windows, sleep and activity under its own id."""
    histories = people(end_ms)
    if hasattr(store, "write_lines"):  # InfluxDB: many users per POST (setup only, not measured)
        lines: list[str] = []
        for i, user in enumerate(users):
            lines += _lines(user, histories[i % len(histories)])
            if len(lines) > 200_000:
                store.write_lines(lines)
                lines = []
        store.write_lines(lines)
        return
    for i, user in enumerate(users):
        h = histories[i % len(histories)]
        store.write_windows(user, h.windows)
        store.write_sleep(user, h.sleep)
        store.write_activity(user, h.activity)


def _lines(user: str, history) -> list[str]:
    """Line protocol of one user's windows, sleep and activity: what the store's writes would send."""
    from model.schema import ACTIVITY_FIELDS, M_ACTIVITY, M_HRV, M_SLEEP, USER_TAG, WINDOW_FIELDS, WINDOW_TAG
    from server.stores.base import frame_arrays

    w = frame_arrays(history.windows, ("start", *WINDOW_FIELDS), ["start"])
    out = lineprotocol.encode(M_HRV, {USER_TAG: user, WINDOW_TAG: "1h"}, {f: w[f] for f in WINDOW_FIELDS}, w["start"])
    s = frame_arrays(history.sleep, ("start", "end", "duration_min"), ["start"])
    fields = {"duration_min": s["duration_min"], "end_ms": s["end"]}
    out += lineprotocol.encode(M_SLEEP, {USER_TAG: user}, fields, s["start"])
    a = frame_arrays(history.activity, ("time", *ACTIVITY_FIELDS), ["time"])
    return out + lineprotocol.encode(M_ACTIVITY, {USER_TAG: user}, {f: a[f] for f in ACTIVITY_FIELDS}, a["time"])


def median_s(call, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def once_s(call) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def peak_rss_mb(master_pid: int) -> float:
    peaks = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                status = dict(
                    line.split(":", 1) for line in Path(f"/proc/{entry}/status").read_text().splitlines() if ":" in line
                )
            except OSError:
                continue
            if int(status.get("PPid", "0").strip()) == master_pid:
                peaks.append(int(status["VmHWM"].split()[0]) / 1024)
    return max(peaks) if peaks else float("nan")


def process_peak_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmHWM")).split()[1]) / 1024


def service(store, checkpoint: Path):
    from server.metrics import Metrics
    from server.pipeline.wiring import forecast_service, load_models
    from server.settings import Settings

    settings = Settings(model=str(checkpoint))
    return forecast_service(settings, store, Metrics(), load_models(settings))


def round_s(store, checkpoint: Path) -> tuple[float, int, float]:
    """(seconds, users scored, seconds of the next round with no new data) of the single-process scorer."""
    import torch

    from server.pipeline.scorer import Scorer

    torch.set_num_threads(1)  # as hrvcast score and the Celery workers

    scorer = Scorer(store, service(store, checkpoint), write_back=True)
    started = time.perf_counter()
    report = scorer.run_round()
    first = time.perf_counter() - started
    again = once_s(scorer.run_round)
    return first, len(report.rows), again


def serve_figures(folder: Path, store_url: str, store, users: list[str], checkpoint: Path, redis) -> None:
    import redis as redis_py

    redis_py.Redis.from_url(redis.url(5)).flushdb()
    env = {"HRVCAST_STORE": store_url, "HRVCAST_MODEL": str(checkpoint), "HRVCAST_CACHE": redis.url(5),
           "HRVCAST_API_TOKEN": TOKEN, "HRVCAST_LOG_LEVEL": "WARNING", "HRVCAST_STORE_TIMEOUT": "60"}  # fmt: skip
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    with run_gunicorn(env, folder) as gunicorn:
        base = f"http://127.0.0.1:{gunicorn.port}"

        def get(path: str):
            resp = session.get(base + path, timeout=300)
            resp.raise_for_status()
            return resp

        def query(target: str):
            body = {"targets": [{"refId": "A", "target": target, "payload": {"user": "*"}}]}  # "All", as Grafana asks
            resp = session.post(base + "/grafana/query", json=body, timeout=300)
            resp.raise_for_status()
            return resp

        get("/readyz")
        bare = median_s(lambda: store.read_scores(None), 3)
        cases = [
            ("GET /api/v1/score, every user", lambda: get("/api/v1/score")),
            ("overview table (fatigue_zone, All)", lambda: query("fatigue_zone")),
            ("overview tiles (fatigue_score, All)", lambda: query("fatigue_score")),
        ]
        for label, call in cases:
            cold = once_s(call)
            warm = median_s(call)
            print(f"  {label:<38} cold {cold:7.2f} s  warm {warm:7.2f} s  (bare read of every stored score "
                  f"{bare:5.2f} s: warm/bare {warm / bare:5.1f}x)")  # fmt: skip
        rows = len(get("/api/v1/score").json())
        rss = peak_rss_mb(gunicorn.pid)
        print(f"  rows answered: {rows:,}; busiest worker's peak RSS {rss:.0f} MB (goal < 600 MB)")


def or_list_peer(influx, users: list[str]) -> None:
    n = min(len(users), 3000)
    ours = once_s(lambda: influx.last_observation(users))
    legacy = (
        'SELECT last("n_beats") FROM "hrv" WHERE "window" = \'1h\' AND ('
        + " OR ".join(f"\"user\" = '{u}'" for u in users[:n])
        + ') GROUP BY "user"'
    )
    peer = once_s(lambda: influx.query(legacy))
    regex_n = once_s(lambda: influx.query(influxql.last_windows(users[:n], "1h")))
    print(f"  last_observation of {len(users):,} named users: regex {ours:6.2f} s; for {n:,}: regex {regex_n:6.2f} s, "
          f"OR list (before) {peer:6.2f} s, OR/regex {peer / regex_n:5.1f}x")  # fmt: skip


def celery_figures(folder: Path, checkpoint: Path, redis, n: int, batch: int) -> None:
    import redis as redis_py

    from server.pipeline.distributed.app import celery_app
    from server.settings import Settings
    from server.stores.sqlite import SQLiteStore

    end_ms = int(time.time() * 1000) // HOUR_MS * HOUR_MS
    users = [f"c{i:05d}" for i in range(n)]
    seed = folder / "seed.sqlite"
    store = SQLiteStore(seed)
    fill(store, users, end_ms)
    store.close()
    copy = folder / "single.sqlite"
    shutil.copy(seed, copy)
    single = SQLiteStore(copy)
    single_s, scored, _ = round_s(single, checkpoint)
    single.close()
    print(f"== Celery round, SQLite, {n:,} users; peer: the single-process round on a copy of the same store")
    print(f"  single process                 {single_s:7.2f} s  {scored / single_s:7.0f} users/s")
    base = None
    for workers in (1, 2):
        path = folder / f"celery{workers}.sqlite"
        shutil.copy(seed, path)
        for db in (6, 7):
            redis_py.Redis.from_url(redis.url(db)).flushdb()
        env = {"HRVCAST_STORE": f"sqlite:///{path}", "HRVCAST_MODEL": str(checkpoint), "HRVCAST_CACHE": redis.url(7),
               "HRVCAST_BROKER": redis.url(6), "HRVCAST_SCORE_BATCH": str(batch), "HRVCAST_LOG_LEVEL": "WARNING",
               "OMP_NUM_THREADS": "1"}  # fmt: skip
        app = celery_app(Settings.from_env(env))
        with contextlib.ExitStack() as stack:
            procs = [stack.enter_context(servers.celery_worker(folder / f"w{workers}", env, f"w{i}")).proc
                     for i in range(workers)]  # fmt: skip
            warm = [app.send_task("hrvcast.score_batch", args=({"started_ms": 0}, [])) for _ in range(2 * workers)]
            for result in warm:  # each worker builds its store and model before the timed round
                result.get(timeout=300)
            one_round = functools.partial(round_result, app)
            took = once_s(one_round)
            base = base or took
            print(f"  {workers} celery worker(s)             {took:7.2f} s  {n / took:7.0f} users/s  vs single "
                  f"process {single_s / took:4.2f}x, vs 1 worker {base / took:4.2f}x "
                  "(goal 2 workers >= 1.7x)")  # fmt: skip
            if workers == 2:
                nothing = once_s(one_round)
                store = SQLiteStore(path)
                histories = people(end_ms + HOUR_MS)
                for i, user in enumerate(users[: n // 10]):
                    store.write_windows(user, histories[i % len(histories)].windows.tail(1))
                store.close()
                tenth = once_s(one_round)
                print(f"  next round, no new data         {nothing:7.2f} s  ({nothing / took:4.2f} of a full round)")
                print(f"  next round, 10 % with a new hour {tenth:6.2f} s  ({tenth / took:4.2f} of a full round)")
                peak = max(process_peak_mb(p.pid) for p in procs)
                print(f"  busiest celery worker's peak RSS {peak:.0f} MB (batches of {batch} users)")
        app.close()


def round_result(app) -> dict:
    started = app.send_task("hrvcast.start_round").get(timeout=600)
    if started.get("batches"):
        return app.AsyncResult(started["finish"]).get(timeout=600)
    return started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", default="1000,10000")
    parser.add_argument("--stores", default="sqlite,influx")
    parser.add_argument("--celery-users", type=int, default=1000)
    parser.add_argument("--celery-batch", type=int, default=128, help="users per Celery task (HRVCAST_SCORE_BATCH)")
    args = parser.parse_args()
    sizes = [int(x) for x in args.users.split(",") if x]
    folder = Path(tempfile.mkdtemp(prefix="hrvcast-scale-"))
    try:
        checkpoint, which = model_path(folder)
        print(f"hrvcast scale benchmark: {which}; {os.cpu_count()} cores; {DAYS} days of hourly windows per user")
        with servers.redis_server(folder / "redis") as redis:
            if args.celery_users:
                celery_figures(folder / "celery", checkpoint, redis, args.celery_users, args.celery_batch)
            for kind in args.stores.split(","):
                influxd = servers.influxd(folder / "influxd") if kind == "influx" else None
                server = influxd.__enter__() if influxd is not None else None
                try:
                    for n in sizes:
                        users = [f"u{i:05d}" for i in range(n)]
                        end_ms = int(time.time() * 1000) // HOUR_MS * HOUR_MS
                        url = (server.store_url(f"scale{n}") if server is not None
                               else f"sqlite:///{folder / f'scale{n}.sqlite'}")  # fmt: skip
                        store = open_store(url, timeout_s=120)
                        fill(store, users, end_ms)
                        took, scored, again = round_s(store, checkpoint)
                        print(f"== {kind}, {n:,} users")
                        print(f"  write-back round (one process) {took:7.2f} s  {scored / took:6.0f} users/s; "
                              f"next round, no new data {again:6.2f} s ({again / took:4.2f} of it)")  # fmt: skip
                        if server is not None:
                            or_list_peer(store, users)
                        serve_figures(folder / f"serve-{kind}-{n}", url, store, users, checkpoint, redis)
                        store.close()
                finally:
                    if influxd is not None:
                        influxd.__exit__(None, None, None)
        return 0
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
