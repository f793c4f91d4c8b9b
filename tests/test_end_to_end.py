"""The thin end-to-end path (issue 2 item 8), real parts only:

demo RR files from the real generator -> ``hrvcast ingest`` into a temporary SQLite store -> ``hrvcast train``
on the demo users -> the app on that store and checkpoint -> ``POST /grafana/query`` (``rmssd_forecast``,
payload ``{"user": ID}``) answers the next 24 hours, starting at the hour after the user's last beat.

Expected values come from the files themselves (read here with pandas), never from the code under test.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from server.cli import main
from server.settings import Settings

pytestmark = pytest.mark.slow

HOUR_MS = 3_600_000
USERS = ("demo-1", "demo-2", "demo-3")
END = "2026-11-10T06:00:00Z"


def beats_of(path) -> tuple[np.ndarray, np.ndarray]:
    """(epoch ms, RR ms) of a ``timestamp,rr_ms`` file, parsed with pandas."""
    frame = pd.read_csv(path)
    epoch_ms = (pd.to_datetime(frame["timestamp"], utc=True) - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(1, "ms")
    epoch_ms = epoch_ms.to_numpy(dtype=np.int64)
    return epoch_ms, frame["rr_ms"].to_numpy(dtype=np.float64)


def naive_hourly_rmssd(epoch_ms: np.ndarray, rr_ms: np.ndarray) -> pd.Series:
    """Per-hour RMSSD of successive beats that follow each other without a gap and lie within 20 % of the
    local median (a crude artifact filter: close to a proper cleaning on mostly clean synthetic beats)."""
    median = pd.Series(rr_ms).rolling(11, center=True, min_periods=1).median().to_numpy()
    normal = np.abs(rr_ms - median) < 0.2 * median
    follows = np.abs(np.diff(epoch_ms) - rr_ms[1:]) <= 2.0
    ok = follows & normal[1:] & normal[:-1]
    diffs = pd.DataFrame({"hour": epoch_ms[1:][ok] // HOUR_MS * HOUR_MS, "d2": np.diff(rr_ms)[ok] ** 2})
    grouped = diffs.groupby("hour")["d2"].agg(["mean", "size"])
    return np.sqrt(grouped.loc[grouped["size"] >= 1000, "mean"])


def test_ingest_train_and_grafana_query_forecast_the_next_24_hours(tmp_path, monkeypatch, capsys):
    torch.set_num_threads(1)
    monkeypatch.chdir(tmp_path)  # anything written to a relative path (var/) stays in the temporary folder
    store_url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    checkpoint = tmp_path / "model.pt"
    monkeypatch.setenv("HRVCAST_STORE", store_url)
    monkeypatch.setenv("HRVCAST_MODEL", str(checkpoint))
    monkeypatch.delenv("HRVCAST_API_TOKEN", raising=False)
    monkeypatch.setenv("HRVCAST_LOG_LEVEL", "WARNING")

    demo = tmp_path / "demo"
    argv = ["demo-data", "--users", str(len(USERS)), "--days", "10", "--out", str(demo), "--seed", "7", "--end", END]
    assert main(argv) == 0
    for user in USERS:
        assert (
            main(
                [
                    "ingest",
                    "--user",
                    user,
                    str(demo / f"{user}.csv"),
                    "--sleep",
                    str(demo / f"{user}.sleep.csv"),
                    "--activity",
                    str(demo / f"{user}.activity.csv"),
                ]
            )
            == 0
        )

    user = "demo-2"
    epoch_ms, rr_ms = beats_of(demo / f"{user}.csv")
    hours_in_file = np.unique(epoch_ms // HOUR_MS * HOUR_MS)
    first_forecast_ms = int(epoch_ms.max()) // HOUR_MS * HOUR_MS + HOUR_MS  # the hour after the last beat's hour

    # Hourly RMSSD is in the store: one window per hour that holds beats, valid ones close to a naive RMSSD.
    from server.stores import open_store

    store = open_store(store_url)
    try:
        windows = store.read_windows([user], int(hours_in_file[0]), first_forecast_ms, "1h")[user]
    finally:
        store.close()
    assert windows["start"].tolist() == hours_in_file.tolist()
    valid = windows[windows["valid"].astype(bool)].set_index("start")["rmssd_ms"]
    assert len(valid) >= 0.8 * len(hours_in_file)
    naive = naive_hourly_rmssd(epoch_ms, rr_ms)
    both = valid.index.intersection(naive.index)
    ratio = float(np.median(valid.loc[both] / naive.loc[both]))
    assert len(both) >= 0.7 * len(hours_in_file) and 0.9 < ratio < 1.1, (len(both), ratio)

    assert main(["train", "--from-store", "--out", str(checkpoint), "--epochs", "3", "--quiet", "--threads", "1"]) == 0
    assert checkpoint.is_file()
    capsys.readouterr()

    from server.web.app import create_app

    client = create_app(Settings.from_env()).test_client()
    body = {  # what Grafana 11 with the simPod plugin sends, unknown keys included
        "app": "dashboard",
        "requestId": "Q100",
        "timezone": "browser",
        "panelId": 2,
        "dashboardUID": "hrvcast-user",
        "range": {
            "from": "2026-11-09T06:00:00.000Z",
            "to": "2026-11-11T06:00:00.000Z",
            "raw": {"from": "now-24h", "to": "now+24h"},
        },
        "rangeRaw": {"from": "now-24h", "to": "now+24h"},
        "interval": "2m",
        "intervalMs": 120000,
        "maxDataPoints": 1200,
        "targets": [
            {
                "refId": "A",
                "target": "rmssd_forecast",
                "payload": {"user": user},
                "editorMode": "builder",
                "datasource": {"type": "simpod-json-datasource", "uid": "hrvcast"},
            }
        ],
        "scopedVars": {},
        "filters": [],
        "startTime": 1762754400000,
    }
    response = client.post("/grafana/query", json=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    frames = response.get_json()
    assert len(frames) == 1 and frames[0]["refId"] == "A"
    fields = {f["name"]: f["values"] for f in frames[0]["fields"]}
    times = np.array(fields["Time"], dtype=np.int64)
    assert times.tolist() == [first_forecast_ms + h * HOUR_MS for h in range(24)]
    p10, p50, p90 = (np.array(fields[q], dtype=np.float64) for q in ("p10", "p50", "p90"))
    assert np.all(p10 <= p50) and np.all(p50 <= p90)
    # Plausible: RMSSD in ms of a healthy adult, and of the order of this user's own observed values.
    assert np.all(p10 > 3.0) and np.all(p90 < 300.0)
    assert valid.min() / 2 < p50.min() and p50.max() < 2 * valid.max()
