"""PNGs of a backtest: per protocol, the MAE of every forecaster by horizon in each input mode, and one
user's forecasts against what happened."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from model.evaluation.backtest import Task, summarize

SHOWN = 6  # forecasters drawn in the MAE panels: the LSTM, its structure and the best others


def plot_protocol(points: pd.DataFrame, tasks: Sequence[Task], protocol: str, path: str) -> None:
    """One PNG for ``protocol``: MAE ln by horizon per input mode (one panel each), then the forecasts of
    the first held-out user with an origin."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and in CI
    import matplotlib.pyplot as plt

    part = points[points["protocol"] == protocol]
    modes = list(dict.fromkeys(part["inputs"]))
    fig, axes = plt.subplots(len(modes) + 1, 1, figsize=(10, 3.2 * (len(modes) + 1)), squeeze=False)
    for ax, mode in zip(axes[:-1, 0], modes, strict=True):
        by_h = summarize(part[part["inputs"] == mode], ["h"])
        order = by_h.groupby("model")["mae_ln"].mean().sort_values().index
        keep = [m for m in order if m in ("lstm", "structure")]
        keep += [m for m in order if m not in keep][: SHOWN - len(keep)]
        for name in keep:
            rows = by_h[by_h["model"] == name].sort_values("h")
            ax.plot(rows["h"], rows["mae_ln"], lw=2.5 if name == "lstm" else 1.2, label=name)
        ax.set_title(f"{protocol}, inputs {mode}: MAE of ln RMSSD by horizon (held-out users)", fontsize=9)
        ax.set_ylabel("MAE ln")
        ax.legend(fontsize=7, ncol=3)
    _forecasts(axes[-1, 0], part[part["inputs"] == modes[-1]], tasks)
    axes[-1, 0].set_xlabel("hours after the forecast origin")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _forecasts(ax, points: pd.DataFrame, tasks: Sequence[Task]) -> None:
    users = [t for t in tasks if t.history.user in set(points["user"])]
    if not users:
        return
    task = users[0]
    ctx = task.context
    origin = int(ctx.times_ms[-1])

    def hours(ms):
        return (np.asarray(ms, dtype=np.int64) - origin) / ctx.step_ms

    ax.plot(hours(ctx.times_ms), np.exp(ctx.ln_rmssd), "k.-", lw=1, label="observed")
    ax.plot(hours(task.target_times_ms), np.exp(task.actual_ln), "ko", mfc="none", label="actual")
    mine = points[(points["user"] == task.history.user) & (points["origin_ms"] == origin)]
    if "seed" in mine:  # one seed of the LSTM; the baselines have none (-1)
        mine = mine[mine["seed"].isin([-1, mine["seed"].max()])]
    for name in ("lstm", "structure", "shrunk_mean_plus_profile", "last_value"):
        rows = mine[mine["model"] == name].sort_values("h")
        if rows.empty:
            continue
        line = ax.plot(hours(rows["time_ms"]), np.exp(rows["p50"]), lw=1.5, label=name)[0]
        if name == "lstm":
            ax.fill_between(
                hours(rows["time_ms"]), np.exp(rows["p10"]), np.exp(rows["p90"]), color=line.get_color(), alpha=0.2
            )
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_title(f"{task.history.user}: forecast from its first origin (p10-p90 band of the LSTM)", fontsize=9)
    ax.set_ylabel("RMSSD (ms)")
    ax.legend(fontsize=7, ncol=3, loc="upper left")
