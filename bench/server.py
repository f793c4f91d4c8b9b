"""Server benchmark (issue 6 item 10): gunicorn + Redis on loopback, bounded in count and time.

    .venv/bin/python bench/server.py [--workers 2] [--cold 30] [--warm 300] [--seconds 5]

Figures, each beside its peer from the same run:
- ``POST /grafana/query`` p50/p99, cold (users never asked before: store read + model) and warm (cache hit),
  for 1 and 10 users;
- warm ``/grafana/query`` throughput as a fraction of ``GET /healthz`` throughput (goal >= 0.5);
- 200 simultaneous cold requests for one user -> model computations, counted through ``/metrics`` (goal: 1);
- RSS of each worker with the model loaded (goal < 400 MB).

Data: 10 synthetic people (``model.synth.generator``), 14 days of hourly windows, sleep and activity, copied under
hundreds of user ids (each id is its own cache key) in a temporary SQLite store. Model: ``HRVCAST_MODEL``
or the shipped default checkpoint when present, else a tiny model trained here in seconds (said in the output).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.gunicorn import worker_rss_mb  # noqa: E402

TOKEN = "bench-token-0123456789abcdef"
HOUR_MS = 3_600_000


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, what: str, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (OSError, requests.RequestException):
            pass
        time.sleep(0.1)
    raise SystemExit(f"{what} did not start in {timeout_s} s")


def make_store(path: Path, users: list[str], end_ms: int, people: int = 10) -> None:
    """``people`` synthetic people; user i gets person i % people's history under its own id, so that every
    user id is a distinct cache key with the real cost of a 14-day history."""
    from model.synth.generator import hourly_history, user_rng
    from server.stores.sqlite import SQLiteStore

    store = SQLiteStore(path)
    start_ms = end_ms - 14 * 24 * HOUR_MS
    histories = [hourly_history(f"p{i}", start_ms, end_ms, user_rng(11, i))[0] for i in range(people)]
    for i, user in enumerate(users):
        history = histories[i % people]
        store.write_windows(user, history.windows)
        store.write_sleep(user, history.sleep)
        store.write_activity(user, history.activity)
    store.close()


def model_path(folder: Path) -> tuple[Path, str]:
    from server.settings import Settings

    chosen = Settings.from_env().model
    if Path(chosen).is_file():
        return Path(chosen), f"checkpoint {chosen}"
    import torch

    from model.forecast.checkpoint import save
    from model.synth.generator import hourly_history, user_rng
    from model.training.train import TrainConfig, train

    torch.set_num_threads(1)
    end_ms = int(time.time() * 1000) // HOUR_MS * HOUR_MS
    hist = [hourly_history(f"t{i}", end_ms - 10 * 24 * HOUR_MS, end_ms, user_rng(5, i))[0] for i in range(8)]
    path = save(train(hist[:6], hist[6:], TrainConfig.tiny(), progress=False), folder / "tiny.pt")
    return path, "tiny model trained here (no default checkpoint found)"


def percentiles(latencies_s: list[float]) -> str:
    ms = np.array(latencies_s) * 1000
    return f"p50 {np.percentile(ms, 50):7.1f} ms  p99 {np.percentile(ms, 99):7.1f} ms  (n={len(ms)})"


class Client:
    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.local = threading.local()

    def session(self) -> requests.Session:
        if not hasattr(self.local, "s"):
            self.local.s = requests.Session()
            self.local.s.headers["Authorization"] = f"Bearer {TOKEN}"
        return self.local.s

    def query(self, users: list[str]) -> float:
        body = {"targets": [{"refId": "A", "target": "rmssd_forecast", "payload": {"user": users}}]}
        started = time.perf_counter()
        r = self.session().post(self.base + "/grafana/query", json=body, timeout=60)
        elapsed = time.perf_counter() - started
        if r.status_code != 200:
            raise SystemExit(f"/grafana/query answered {r.status_code}: {r.text[:300]}")
        return elapsed

    def healthz(self) -> float:
        started = time.perf_counter()
        self.session().get(self.base + "/healthz", timeout=60).raise_for_status()
        return time.perf_counter() - started

    def computations(self) -> float:
        text = self.session().get(self.base + "/metrics", timeout=60).text
        for line in text.splitlines():
            if line.startswith("hrvcast_forecast_computations_total"):
                return float(line.split()[-1])
        return 0.0


def throughput(call, seconds: float, max_requests: int, concurrency: int) -> float:
    """Requests per second over a bounded run: at most ``seconds`` and ``max_requests``."""
    done = 0
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def loop():
        nonlocal done
        while time.monotonic() < stop:
            with lock:
                if done >= max_requests:
                    return
                done += 1
            call()

    started = time.perf_counter()
    threads = [threading.Thread(target=loop) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return done / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cold", type=int, default=20, help="cold requests per case")
    parser.add_argument("--warm", type=int, default=300, help="warm requests per case")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each throughput run")
    parser.add_argument("--concurrency", type=int, default=8, help="client threads in throughput runs")
    args = parser.parse_args()
    if shutil.which("redis-server") is None:
        raise SystemExit("redis-server is not installed: the benchmark measures the shared (Redis) cache")

    import redis

    folder = Path(tempfile.mkdtemp(prefix="hrvcast-bench-"))
    procs: list[subprocess.Popen] = []
    try:
        redis_port = free_port()
        redis_cmd = ["redis-server", "--bind", "127.0.0.1", "--port", str(redis_port), "--save", "",
                     "--appendonly", "no", "--dir", str(folder)]  # fmt: skip
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        procs.append(subprocess.Popen(redis_cmd, **quiet, start_new_session=True))
        rclient = redis.Redis(port=redis_port)
        wait_for(rclient.ping, "redis-server")

        # Cold requests ask users nobody asked before (each a real store read + model pass): 1 user per
        # 1-user request, 10 per 10-user request, one more for the 200 simultaneous requests.
        users = [f"bench-{i:04d}" for i in range(10 + args.cold * 11 + 1)]
        end_ms = int(time.time() * 1000) // HOUR_MS * HOUR_MS
        make_store(folder / "store.sqlite", users, end_ms)
        fresh = iter(users[10:])
        checkpoint, which = model_path(folder)

        port = free_port()
        env = {
            **os.environ,
            "HRVCAST_STORE": f"sqlite:///{folder / 'store.sqlite'}",
            "HRVCAST_MODEL": str(checkpoint),
            "HRVCAST_CACHE": f"redis://127.0.0.1:{redis_port}/0",
            "HRVCAST_API_TOKEN": TOKEN,
            "HRVCAST_LOG_LEVEL": "WARNING",
            "PROMETHEUS_MULTIPROC_DIR": str(folder / "metrics"),
        }
        (folder / "metrics").mkdir()
        gunicorn = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "python:server.web.gunicorn_conf", "--bind", f"127.0.0.1:{port}",
             "--workers", str(args.workers)],
            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=(folder / "gunicorn.log").open("w"),
            start_new_session=True,
        )  # fmt: skip
        procs.append(gunicorn)
        client = Client(port)
        wait_for(lambda: client.session().get(client.base + "/readyz", timeout=5).status_code == 200, "gunicorn")
        print(f"hrvcast server benchmark: gunicorn {args.workers} workers (uvicorn), Redis cache, SQLite store, "
              f"{len(users)} users x 14 days of hourly windows; {which}; {os.cpu_count()} cores")  # fmt: skip

        for n in (1, 10):
            chosen = users[:n]
            for _ in range(args.workers * 2):  # every worker has imported and run its model once
                client.query(chosen)
            cold = [client.query([next(fresh) for _ in range(n)]) for _ in range(args.cold)]
            warm = [client.query(chosen) for _ in range(args.warm)]
            print(f"/grafana/query {n:2d} user(s)  cold: {percentiles(cold)}")
            print(f"/grafana/query {n:2d} user(s)  warm: {percentiles(warm)}  "
                  f"cold/warm p50 = {np.median(cold) / np.median(warm):.1f}x")  # fmt: skip

        client.query(users[:1])
        max_requests = 20_000
        health_rps = throughput(client.healthz, args.seconds, max_requests, args.concurrency)
        warm_rps = throughput(lambda: client.query(users[:1]), args.seconds, max_requests, args.concurrency)
        print(f"throughput ({args.concurrency} client threads, {args.seconds:g} s each): "
              f"/healthz {health_rps:7.0f} req/s, warm /grafana/query {warm_rps:7.0f} req/s  "
              f"ratio {warm_rps / health_rps:.2f} (goal >= 0.5)")  # fmt: skip

        last_user = [next(fresh)]
        before = client.computations()
        with ThreadPoolExecutor(200) as pool:
            barrier = threading.Barrier(200)

            def together(_):
                barrier.wait()
                return client.query(last_user)

            latencies = list(pool.map(together, range(200)))
        computed = client.computations() - before
        print(f"200 simultaneous cold requests for one user: {computed:.0f} model computation(s) (goal 1); "
              f"{percentiles(latencies)}")  # fmt: skip

        rss = worker_rss_mb(gunicorn.pid)
        print(f"worker RSS with the model loaded: {', '.join(f'{r:.0f} MB' for r in rss)} (goal < 400 MB each)")
        json_line = {"cold_vs_warm": "see above", "warm_over_healthz": round(warm_rps / health_rps, 3),
                     "computations_for_200": computed, "worker_rss_mb": [round(r) for r in rss]}  # fmt: skip
        print("summary:", json.dumps(json_line))
        return 0
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
