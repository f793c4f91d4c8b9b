"""Figures of the outcomes protocol (:mod:`model.evaluation.outcomes`), with 95 % intervals over users.

For each protocol, outcome and signal, on the cases where every signal has a score:

- ``auc``: the chance that a bad report's score is lower than a good report's (pooled over users; 0.5 = no
  information; ties count half);
- ``auc_within``: the same chance within a person, averaged over the users with both bad and good reports
  (5+ cases): how well the signal tells a person's bad days from their own good ones, without the part of the
  pooled AUC that comes from which people report bad days more often;
- ``rate_red`` / ``rate_yellow`` / ``rate_green``: the share of bad reports among the cases in each zone, and
  ``ratio_red`` / ``ratio_yellow``: those rates over the green one;
- ``spearman``: the mean over users (5+ cases, both varying) of the within-person Spearman correlation between
  the score and the report (``how_feel``; ``fatigue`` for surveys, where a good score should mean less fatigue,
  so a negative correlation);
- ``delta_auc``: the signal's AUC minus the reference signal's (the model's score), paired.

Intervals: percentile bootstrap over users (whole users drawn with replacement, ``resamples`` times).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import rankdata, spearmanr

from model.zones import ZONES

ZONE_NAMES = ("red", "yellow", "green")
MIN_CASES_PER_USER = 5  # a person's own figures (within-person AUC and Spearman) need this many cases
MIN_USERS = 3  # fewer users than this: no figures (an interval over users needs users)
PROTOCOL_ORDER = ("same_day", "next_day")
OUTCOME_OF_KIND = {"reading": "how_feel", "survey": "fatigue"}


def auc(bad: np.ndarray, score: np.ndarray) -> float:
    """P(score of a bad case < score of a good case), ties half (Mann-Whitney on the negated score)."""
    bad = np.asarray(bad, dtype=bool)
    n_bad, n_good = int(bad.sum()), int((~bad).sum())
    if n_bad == 0 or n_good == 0:
        return np.nan
    ranks = rankdata(-np.asarray(score, dtype=float))
    return float((ranks[bad].sum() - n_bad * (n_bad + 1) / 2) / (n_bad * n_good))


def _within_auc(bad: np.ndarray, score: np.ndarray) -> float:
    """One person's AUC (NaN with fewer than MIN_CASES_PER_USER cases or only one kind of report)."""
    return auc(bad, score) if bad.size >= MIN_CASES_PER_USER else np.nan


def _within_spearman(values: np.ndarray, outcome: np.ndarray) -> float:
    if values.size < MIN_CASES_PER_USER or np.ptp(values) == 0 or np.ptp(outcome) == 0:
        return np.nan
    return float(spearmanr(values, outcome).statistic)


def zone_index(score: np.ndarray) -> np.ndarray:
    """0 red, 1 yellow, 2 green per score (:func:`model.zones.zone_of`, vectorised); scores are finite here."""
    bounds = [z.lower for z in ZONES[1:]]
    return np.searchsorted(np.asarray(bounds), np.asarray(score, dtype=float), side="right")


class _Signal:
    """One signal on one set of cases, summarised per user so that a bootstrap draw costs one ranking."""

    def __init__(self, part: pd.DataFrame, signal: str, outcome: str, users: np.ndarray) -> None:
        self.score = part[signal].to_numpy(float)
        self.bad = part["bad"].to_numpy(bool)
        zone = zone_index(self.score)
        user = part["user"].to_numpy()
        self.rows = [np.flatnonzero(user == u) for u in users]
        self.cases = np.array([[np.sum(zone[r] == z) for z in range(3)] for r in self.rows], float)  # [U, 3]
        self.bads = np.array([[np.sum(self.bad[r] & (zone[r] == z)) for z in range(3)] for r in self.rows], float)
        outcome_values = part[outcome].to_numpy(float)
        self.rho = np.array([_within_spearman(self.score[r], outcome_values[r]) for r in self.rows])  # [U]
        self.auc_user = np.array([_within_auc(self.bad[r], self.score[r]) for r in self.rows])  # [U]

    def figures(self, weights: np.ndarray, rows: np.ndarray) -> dict:
        """Figures of a draw: ``weights [U]`` times each user is drawn, ``rows`` the drawn cases."""
        cases, bads = weights @ self.cases, weights @ self.bads  # [3]
        with np.errstate(divide="ignore", invalid="ignore"):
            rates = np.where(cases > 0, bads / cases, np.nan)
            ratio = rates / rates[2] if rates[2] > 0 else np.full(3, np.nan)
        rho_ok = np.isfinite(self.rho) & (weights > 0)
        out = {"auc": auc(self.bad[rows], self.score[rows])}
        out |= {f"rate_{z}": float(rates[k]) for k, z in enumerate(ZONE_NAMES)}
        out |= {f"share_{z}": float(cases[k] / cases.sum()) for k, z in enumerate(ZONE_NAMES)}
        out |= {"ratio_red": float(ratio[0]), "ratio_yellow": float(ratio[1])}
        out["spearman"] = float(np.average(self.rho[rho_ok], weights=weights[rho_ok])) if rho_ok.any() else np.nan
        auc_ok = np.isfinite(self.auc_user) & (weights > 0)
        out["auc_within"] = (
            float(np.average(self.auc_user[auc_ok], weights=weights[auc_ok])) if auc_ok.any() else np.nan
        )
        return out


def evaluate(
    scored: pd.DataFrame, signals: Sequence[str], reference: str, *, resamples: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """One row per (protocol, kind, signal): the figures, each with ``_lo``/``_hi`` 95 % bounds, and ``n``
    (cases), ``users``, ``bad`` (share of bad cases). Only cases where every signal has a score count."""
    rows = []
    groups = scored.groupby(["protocol", "kind"], sort=True)
    for (protocol, kind), part in sorted(groups, key=lambda g: (PROTOCOL_ORDER.index(g[0][0]), g[0][1])):
        part = part[np.isfinite(part[list(signals)].to_numpy(float)).all(axis=1)].reset_index(drop=True)
        if part.empty or part["user"].nunique() < MIN_USERS:
            continue
        users = part["user"].unique()
        summaries = {s: _Signal(part, s, OUTCOME_OF_KIND[kind], users) for s in signals}
        every = np.ones(users.size)
        all_rows = np.arange(len(part))
        point = {s: summaries[s].figures(every, all_rows) for s in signals}
        draws = np.random.default_rng(seed).integers(0, users.size, (resamples, users.size))  # [R, U]
        boot: dict[str, list[dict]] = {s: [] for s in signals}
        for draw in draws:
            weights = np.bincount(draw, minlength=users.size).astype(float)
            drawn = np.concatenate([summaries[reference].rows[u] for u in draw])
            for s in signals:
                boot[s].append(summaries[s].figures(weights, drawn))
        reference_auc = pd.DataFrame(boot[reference])["auc"]
        for s in signals:
            frame = pd.DataFrame(boot[s])
            frame["delta_auc"] = frame["auc"] - reference_auc
            row = {"protocol": protocol, "kind": kind, "signal": s, "n": len(part), "users": int(users.size)}
            row["bad"] = float(part["bad"].mean())
            values = point[s] | {"delta_auc": point[s]["auc"] - point[reference]["auc"]}
            for name, value in values.items():
                finite = frame[name].dropna()
                row[name] = value
                row[f"{name}_lo"] = float(np.percentile(finite, 2.5)) if finite.size else np.nan
                row[f"{name}_hi"] = float(np.percentile(finite, 97.5)) if finite.size else np.nan
            rows.append(row)
    return pd.DataFrame(rows)


def _ci(row: pd.Series, name: str, fmt: str = "{:.3f}") -> str:
    value, lo, hi = row[name], row[f"{name}_lo"], row[f"{name}_hi"]
    if not np.isfinite(value):
        return "-"
    return f"{fmt.format(value)} ({fmt.format(lo)} to {fmt.format(hi)})"


def format_tables(figures: pd.DataFrame) -> str:
    """Plain-text tables, one per protocol and kind, signals in the given order."""
    blocks = []
    for (protocol, kind), part in figures.groupby(["protocol", "kind"], sort=False):
        first = part.iloc[0]
        what = "bad reading (how_feel <= -1)" if kind == "reading" else "bad fatigue (S_COVID_FATIGUE >= 4)"
        lines = [
            f"{protocol}, {kind}s: {int(first['n'])} cases of {int(first['users'])} users, {first['bad']:.1%} {what}",
        ]
        header = (
            "signal",
            "AUC (95% CI)",
            "minus score",
            "within person",
            "red/yellow/green rate",
            "red:green (95% CI)",
            "Spearman",
        )
        table = [header]
        for _, row in part.iterrows():
            rates = "/".join(
                "-" if not np.isfinite(row[f"rate_{z}"]) else f"{row[f'rate_{z}']:.2f}" for z in ZONE_NAMES
            )
            shares = "/".join(f"{row[f'share_{z}']:.0%}" for z in ZONE_NAMES)
            table.append(
                (
                    str(row["signal"]),
                    _ci(row, "auc"),
                    _ci(row, "delta_auc", "{:+.3f}"),
                    _ci(row, "auc_within"),
                    f"{rates} (of {shares})",
                    _ci(row, "ratio_red", "{:.2f}"),
                    _ci(row, "spearman", "{:+.3f}"),
                )
            )
        widths = [max(len(r[i]) for r in table) for i in range(len(header))]
        lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in table]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def plot(figures: pd.DataFrame, path: str) -> None:
    """PNG: per protocol (columns), the AUC for a bad reading and the bad-reading rate per zone, with intervals."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and in CI
    import matplotlib.pyplot as plt

    readings = figures[figures["kind"] == "reading"]
    protocols = list(dict.fromkeys(readings["protocol"]))
    fig, axes = plt.subplots(2, len(protocols), figsize=(6.5 * len(protocols), 7.5), squeeze=False)
    colors = {"red": "#d44a3a", "yellow": "#e0b400", "green": "#3f9a4a"}
    for col, protocol in enumerate(protocols):
        part = readings[readings["protocol"] == protocol].reset_index(drop=True)
        x = np.arange(len(part))
        ax = axes[0, col]
        err = np.vstack([part["auc"] - part["auc_lo"], part["auc_hi"] - part["auc"]])
        ax.bar(x, part["auc"], yerr=err, color="#4a78b5", capsize=3)
        ax.axhline(0.5, color="grey", lw=0.8, ls="--")
        ax.set_xticks(x, part["signal"], rotation=20, fontsize=8)
        ax.set_ylim(0.35, 0.8)
        ax.set_title(f"{protocol}: AUC for a bad reading (how_feel <= -1)", fontsize=9)
        ax = axes[1, col]
        for k, zone in enumerate(ZONE_NAMES):
            rate = part[f"rate_{zone}"].to_numpy(float)
            lo = np.nan_to_num(rate - part[f"rate_{zone}_lo"].to_numpy(float))
            hi = np.nan_to_num(part[f"rate_{zone}_hi"].to_numpy(float) - rate)
            ax.bar(x + (k - 1) * 0.27, rate, 0.27, yerr=[lo, hi], color=colors[zone], capsize=2, label=zone)
        ax.axhline(float(part["bad"].iloc[0]), color="grey", lw=0.8, ls="--", label="base rate")
        ax.set_xticks(x, part["signal"], rotation=20, fontsize=8)
        ax.set_ylabel("share of bad readings")
        ax.set_title(f"{protocol}: bad-reading rate by zone", fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
