"""A live track record made for real: the real scorer writes forecasts back, then the hours arrive."""

from __future__ import annotations

import numpy as np
import pandas as pd

from server.pipeline.scorer import Scorer
from server.pipeline.wiring import local_service
from tests.support.served import END_MS, H, hourly_windows

USER = "tracked"
ROUND_S = (END_MS + 20 * 60_000) / 1000  # first round: 20 minutes after the newest window ended


def shown(store, model_prefix: str) -> pd.DataFrame:
    """The stored forecast hours of one forecaster's tag, by time: what a person saw at that moment."""
    (frame,) = store.read_forecasts([USER], END_MS, END_MS + 48 * H).values()
    mine = frame[frame["model"].str.startswith(model_prefix)]
    return mine.set_index("time")[["rmssd_p10", "rmssd_p50", "rmssd_p90"]].copy()


def live_record(store, forecaster) -> dict:
    """Two scoring rounds 12 h apart, each followed by the 12 hours that then arrive. Returns, per tag prefix,
    the forecasts that were on show for each of the 24 hours, and the windows that arrived."""
    store.write_windows(USER, hourly_windows(31, END_MS, 240))
    arriving = hourly_windows(32, END_MS + 24 * H, 24)  # the next day's windows, from END_MS on
    clock = [ROUND_S]
    scorer = Scorer(
        store,
        local_service(store, forecaster),
        write_back=True,
        forecasters=("lstm", "history_mean"),
        clock=lambda: clock[0],
    )
    prefixes = (forecaster.version, "history_mean-", "last_value-")
    seen, first = {}, None
    for k in range(2):
        scorer.run_round(users=[USER])
        first = shown(store, forecaster.version) if first is None else first
        for p in prefixes:
            now = shown(store, p)
            part = now.loc[END_MS + 12 * k * H : END_MS + (12 * k + 11) * H]  # the hours about to happen
            seen[p] = part if k == 0 else pd.concat([seen[p], part])
        store.write_windows(USER, arriving.iloc[12 * k : 12 * (k + 1)])
        clock[0] += 12 * 3600
    return {"shown": seen, "first": first, "observed": arriving.set_index("start")["ln_rmssd"]}


def expected(shown: pd.DataFrame, reference: pd.DataFrame, observed: pd.Series) -> dict:
    obs = observed.loc[shown.index].to_numpy()

    def figures(f: pd.DataFrame) -> tuple[float, float]:
        ln = np.log(f.to_numpy())
        return float(np.mean(np.abs(ln[:, 1] - obs))), float(np.mean((ln[:, 0] <= obs) & (obs <= ln[:, 2])))

    (mae, cov), (ref_mae, ref_cov) = figures(shown), figures(reference.loc[shown.index])
    return {"mae_ln": mae, "coverage": cov, "last_value_mae_ln": ref_mae, "last_value_coverage": ref_cov}
