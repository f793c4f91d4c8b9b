"""History store benchmark: ingest throughput and multi-user reads, each beside its peer from the same run.

- Ingest: one day of beats (100k points) and 7 days of hourly windows for 200 users through the store
  protocol (SQLite and a real influxd on loopback), against a plain batched line-protocol HTTP write of
  the same points from the same arrays to the same influxd (one f-string per point, the same batches:
  5,000 lines per POST for beats, one POST per user for windows, one keep-alive session): goal >= 0.7.
- Reads: 7 days of hourly windows for 1 user and for 1,000 users in one ``read_windows`` call: goal
  1,000 users < 1 s on the real influxd; the raw InfluxQL round trip (HTTP + JSON, no frames) is the peer.

Bounded: fixed sizes, best of 3 interleaved runs per figure, about a minute on 2 cores. Run: ``python bench/stores.py``.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from server.stores import influxql, open_store
from tests.support import servers

DAY_MS, H = 86_400_000, 3_600_000
T0 = 1_794_787_200_000  # 2026-11-16T00:00:00Z
REPEATS = 3
rng = np.random.default_rng(7)


def interleaved(*fns, repeats: int = REPEATS) -> list[float]:
    """Best time of each function, run in turn (a, b, c, a, b, c, ...) so that load on a shared machine and
    influxd's background compactions fall on all of them alike."""
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - start)
    return best


def plain_write(url: str, db: str, lines: list[str], batch: int = 5000) -> None:
    session = requests.Session()
    for i in range(0, len(lines), batch):
        resp = session.post(
            f"{url}/write",
            params={"db": db, "precision": "ms"},
            data="\n".join(lines[i : i + batch]).encode(),
            timeout=60,
        )
        resp.raise_for_status()


def raw_csv(url: str, query: str) -> bytes:
    """The same InfluxQL statement, answer bytes only: the floor that parsing into frames adds to."""
    resp = requests.post(
        f"{url}/query",
        data={"q": query, "db": "bench", "epoch": "ms", "chunked": "true", "chunk_size": "10000"},
        headers={"Accept": "application/csv", "Accept-Encoding": "identity"},
    )
    resp.raise_for_status()
    return resp.content


def beats() -> tuple[np.ndarray, np.ndarray]:
    ibi_ms = rng.normal(850, 60, 100_000).clip(400, 1500)
    return (T0 + np.cumsum(ibi_ms)).astype(np.int64), ibi_ms


def windows(hours: int = 7 * 24) -> pd.DataFrame:
    rmssd = rng.lognormal(3.7, 0.3, hours)
    return pd.DataFrame(
        {
            "start": T0 + np.arange(hours) * H,
            "n_beats": rng.integers(3000, 4500, hours),
            "coverage": rng.uniform(0.8, 1, hours),
            "artifact_pct": rng.uniform(0, 3, hours),
            "mean_rr_ms": rng.normal(850, 50, hours),
            "mean_hr_bpm": rng.normal(70, 5, hours),
            "rmssd_ms": rmssd,
            "ln_rmssd": np.log(rmssd),
            "sdnn_ms": rmssd * 1.4,
            "pnn50": rng.uniform(0, 40, hours),
            "valid": True,
        }
    )


def window_lines(user: str, frame: pd.DataFrame) -> list[str]:
    """The plain way: one f-string per point from the frame's columns (integers with 'i', booleans as words)."""
    cols = [frame[c].tolist() for c in frame.columns]
    return [
        f"hrv,user={user},window=1h n_beats={n}i,coverage={cov!r},artifact_pct={art!r},mean_rr_ms={rr!r},"
        f"mean_hr_bpm={hr!r},rmssd_ms={rm!r},ln_rmssd={ln!r},sdnn_ms={sd!r},pnn50={pn!r},valid={str(ok).lower()} {t}"
        for t, n, cov, art, rr, hr, rm, ln, sd, pn, ok in zip(*cols, strict=True)
    ]


def beat_lines(user: str, epoch_ms: np.ndarray, ibi_ms: np.ndarray) -> list[str]:
    return [f"rr,user={user} ibi_ms={v!r} {t}" for t, v in zip(epoch_ms.tolist(), ibi_ms.tolist(), strict=True)]


def report(label: str, ours_s: float, peer_label: str, peer_s: float, points: int, goal: str) -> None:
    print(
        f"{label:<44} {points / ours_s:>10,.0f} pts/s   {peer_label}: {points / peer_s:>10,.0f} pts/s   "
        f"ratio {peer_s / ours_s:.2f}  ({goal})"
    )


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, servers.influxd(Path(tmp) / "influxd") as influxd:
        sqlite_store = open_store(f"sqlite:///{tmp}/bench.sqlite", timeout_s=60)
        influx = open_store(influxd.store_url("bench"), timeout_s=60)
        influx.ping()
        counter = iter(range(10**6))

        # -- ingest: beats (arrays in, encoding included on both sides, 5,000 lines per POST) ---------------------
        epoch_ms, ibi_ms = beats()
        requests.post(f"{influxd.url}/query", data={"q": 'CREATE DATABASE "plain"'}, timeout=10)
        plain_s, influx_s, sqlite_s = interleaved(
            lambda: plain_write(influxd.url, "plain", beat_lines(f"p{next(counter)}", epoch_ms, ibi_ms)),
            lambda: influx.write_beats(f"u{next(counter)}", epoch_ms, ibi_ms),
            lambda: sqlite_store.write_beats(f"u{next(counter)}", epoch_ms, ibi_ms),
        )
        print(f"== ingest, {len(epoch_ms):,} beats per call (best of {REPEATS}); peer: plain batched line protocol")
        report("influxd   write_beats", influx_s, "plain HTTP", plain_s, len(epoch_ms), "goal >= 0.70")
        report("sqlite    write_beats", sqlite_s, "plain HTTP", plain_s, len(epoch_ms), "goal >= 0.70")

        # -- ingest: windows, 200 users x 7 days, one call (one POST) per user on both sides -----------------------
        frames = {f"w{i:04d}": windows() for i in range(200)}
        points = sum(len(f) for f in frames.values())
        session = requests.Session()

        def plain_windows() -> None:
            for user, frame in frames.items():
                session.post(
                    f"{influxd.url}/write",
                    params={"db": "plain", "precision": "ms"},
                    data="\n".join(window_lines(user, frame)).encode(),
                    timeout=60,
                ).raise_for_status()

        plain_s, influx_s, sqlite_s = interleaved(
            plain_windows,
            lambda: [influx.write_windows(u, f) for u, f in frames.items()],
            lambda: [sqlite_store.write_windows(u, f) for u, f in frames.items()],
        )
        print(f"== ingest, {points:,} hourly windows (200 users x 7 days, 10 fields), one call per user")
        report("influxd   write_windows", influx_s, "plain HTTP", plain_s, points, "goal >= 0.70")
        report("sqlite    write_windows", sqlite_s, "plain HTTP", plain_s, points, "goal >= 0.70")

        # -- reads: 7 days for 1 and 1,000 users in one call ---------------------------------------------------
        users = [f"r{i:04d}" for i in range(1000)]
        template = windows()
        lines = [ln for u in users for ln in window_lines(u, template)]
        plain_write(influxd.url, "bench", lines)
        for u in users:
            sqlite_store.write_windows(u, template)
        start_ms, end_ms = T0, T0 + 7 * DAY_MS
        print("== read 7 days of hourly windows in one call (best of 3); peer: the same InfluxQL, answer bytes only")
        for n in (1, 1000):
            subset = users[:n]
            got = influx.read_windows(subset, start_ms, end_ms)
            assert len(got) == n and all(len(f) == 168 for f in got.values())
            raw_q = influxql.select_windows(subset, start_ms, end_ms, "1h")
            ours, peer, lite = interleaved(
                lambda s=subset: influx.read_windows(s, start_ms, end_ms),
                lambda q=raw_q: raw_csv(influxd.url, q),
                lambda s=subset: sqlite_store.read_windows(s, start_ms, end_ms),
            )
            goal = "goal < 1 s" if n == 1000 else ""
            print(
                f"{n:>5} users x 168 h: influxd {ours * 1000:8.1f} ms  raw InfluxQL {peer * 1000:8.1f} ms  "
                f"ratio {peer / ours:.2f}   sqlite {lite * 1000:8.1f} ms  {goal}"
            )
        influx.close()
        sqlite_store.close()


if __name__ == "__main__":
    main()
