"""Writes ``recorded/*.flux`` + ``recorded/*.csv``: what InfluxDB 2 answers to each read of the contract suite.

No InfluxDB 2 server can run here, so these answers are written from the literals in ``cases.py`` in the
exact wire format of InfluxDB 2.x's ``/api/v2/query`` (annotated CSV with the ``datatype``, ``group`` and
``default`` annotations the client asks for, CRLF line ends, one block per table schema, one table per
group key, RFC 3339 times with trailing zeros trimmed, doubles as Go's ``FormatFloat(v, 'f', -1, 64)``,
nulls as empty cells). Re-run after a deliberate query change: ``python -m tests.support.make_flux_answers``.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from server.stores import flux
from tests.support import store_cases as c

BUCKET = "biometrics"
OUT = Path(__file__).resolve().parent / "flux_answers"
FIELD_TYPES = {"n_beats": "long", "valid": "boolean", "end_ms": "long"}  # every other field is a double


def rfc3339(epoch_ms: int) -> str:
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(epoch_ms))
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    frac = f"{moment.microsecond // 1000:03d}".rstrip("0")
    return text + (f".{frac}" if frac else "") + "Z"


def cell(value, datatype: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if datatype == "dateTime:RFC3339":
        return rfc3339(value)
    if datatype == "double":
        return np.format_float_positional(float(value), trim="-")
    if datatype == "boolean":
        return "true" if value else "false"
    if datatype == "long":
        return str(int(value))
    return str(value)


def block(columns: list[tuple[str, str, bool]], tables: list[list[dict]], first_table: int) -> list[str]:
    """Annotations, header and rows of tables that share one schema; columns are (name, datatype, in group key)."""
    lines = [
        "#datatype,string,long," + ",".join(t for _, t, _ in columns),
        "#group,false,false," + ",".join("true" if g else "false" for _, _, g in columns),
        "#default,_result,," + "," * (len(columns) - 1),
        ",result,table," + ",".join(n for n, _, _ in columns),
    ]
    for i, rows in enumerate(tables):
        for row in rows:
            lines.append(f",,{first_table + i}," + ",".join(cell(row.get(n), t) for n, t, _ in columns))
    return lines


def response(blocks: list[tuple[list[tuple[str, str, bool]], list[list[dict]]]]) -> str:
    out, table = [], 0
    for columns, tables in blocks:
        out += [*block(columns, tables, table), ""]
        table += len(tables)
    return "\r\n".join(out) + ("\r\n" if out else "")


def fields(names) -> list[tuple[str, str, bool]]:
    return [(n, FIELD_TYPES.get(n, "double"), False) for n in sorted(names)]


def window_rows(frame, user: str, start_ms: int, end_ms: int) -> list[dict]:
    rows = []
    for rec in frame.to_dict("records"):
        if start_ms <= rec["start"] < end_ms:
            rows.append({"_time": rec.pop("start"), "user": user, **rec})
    return rows


TIME = ("_time", "dateTime:RFC3339", False)
USER = ("user", "string", True)
WINDOW_COLS = [TIME, USER, *fields(c.ALICE_1H.columns[1:])]


def recordings() -> dict[str, tuple[str, str]]:
    T0, H = c.T0, c.H
    rec = {}
    rec["windows_two_users"] = (
        flux.read_windows(BUCKET, [c.ALICE, c.BOB, c.CAROL], T0, T0 + 3 * H, "1h"),
        response(
            [
                (
                    WINDOW_COLS,
                    [window_rows(c.ALICE_1H, c.ALICE, T0, T0 + 3 * H), window_rows(c.BOB_1H, c.BOB, T0, T0 + 3 * H)],
                )
            ]
        ),
    )
    rec["windows_half_open"] = (
        flux.read_windows(BUCKET, [c.ALICE], T0 + H, T0 + 2 * H, "1h"),
        response([(WINDOW_COLS, [window_rows(c.ALICE_1H, c.ALICE, T0 + H, T0 + 2 * H)])]),
    )
    rec["windows_5min"] = (
        flux.read_windows(BUCKET, [c.ALICE], T0, T0 + 3 * H, "5min"),
        response([(WINDOW_COLS, [window_rows(c.ALICE_5MIN, c.ALICE, T0, T0 + 3 * H)])]),
    )
    rec["windows_nobody"] = (flux.read_windows(BUCKET, [c.CAROL], T0, T0 + 3 * H, "1h"), response([]))
    last_cols = [TIME, USER]
    rec["last_all"] = (
        flux.last_windows(BUCKET, None, "1h"),
        response([(last_cols, [[{"_time": T0 + 2 * H, "user": c.ALICE}], [{"_time": T0 + 2 * H, "user": c.BOB}]])]),
    )
    rec["last_bob"] = (
        flux.last_windows(BUCKET, [c.BOB], "1h"),
        response([(last_cols, [[{"_time": T0 + 2 * H, "user": c.BOB}]])]),
    )
    rec["last_5min"] = (
        flux.last_windows(BUCKET, None, "5min"),
        response([(last_cols, [[{"_time": T0, "user": c.ALICE}]])]),
    )
    rec["users"] = (
        flux.list_users(BUCKET),
        response([([("_value", "string", False)], [[{"_value": c.ALICE}, {"_value": c.BOB}]])]),
    )
    beats = [
        {"_time": int(t), "ibi_ms": float(v)}
        for t, v in zip(c.ALICE_BEATS_MS, c.ALICE_IBI_MS, strict=True)
        if T0 <= t < T0 + 2400
    ]
    rec["beats"] = (
        flux.read_beats(BUCKET, c.ALICE, T0, T0 + 2400),
        response([([TIME, ("ibi_ms", "double", False)], [beats])]),
    )
    sleep = [
        {"_time": r["start"], "user": c.ALICE, "duration_min": r["duration_min"], "end_ms": r["end"]}
        for r in c.ALICE_SLEEP.to_dict("records")
    ]
    rec["sleep"] = (
        flux.read_sleep(BUCKET, [c.ALICE, c.BOB], T0, T0 + 3 * H),
        response([([TIME, USER, *fields(["duration_min", "end_ms"])], [sleep])]),
    )
    alice_act = [{"_time": r.pop("time"), "user": c.ALICE, **r} for r in c.ALICE_ACTIVITY.to_dict("records")]
    bob_act = [{"_time": r["time"], "user": c.BOB, "steps": r["steps"]} for r in c.BOB_ACTIVITY.to_dict("records")]
    rec["activity"] = (
        flux.read_activity(BUCKET, [c.ALICE, c.BOB], T0, T0 + 3 * H),
        response(
            [
                ([TIME, USER, *fields(["heart_rate_bpm", "steps"])], [alice_act]),
                ([TIME, USER, *fields(["steps"])], [bob_act]),
            ]
        ),
    )  # bob never sent heart rate
    fc_cols = [TIME, ("model", "string", True), USER, *fields(c.ALICE_FORECAST_A.columns[1:])]
    tables = [
        [{"_time": r.pop("time"), "model": model, "user": c.ALICE, **r} for r in frame.to_dict("records")]
        for model, frame in ((c.MODEL_A, c.ALICE_FORECAST_A), (c.MODEL_B, c.ALICE_FORECAST_B))
    ]
    rec["forecasts"] = (flux.read_forecasts(BUCKET, [c.ALICE], T0, T0 + 6 * H), response([(fc_cols, tables)]))
    score_cols = [TIME, ("model", "string", False), USER, *fields(["min_score", "score"])]
    score_cols += [(n, "long", False) for n in ("horizon_h", "last_observed_ms", "scored_ms")]

    def newest(users):
        rows = [r for r in c.NEWEST_SCORES.to_dict("records") if r["user"] in users]
        return [[{"_time": r.pop("time"), **r}] for r in rows]

    rec["scores_all"] = (flux.newest_scores(BUCKET, None), response([(score_cols, newest([c.ALICE, c.BOB]))]))
    rec["scores_some"] = (
        flux.newest_scores(BUCKET, [c.ALICE, c.CAROL]),
        response([(score_cols, newest([c.ALICE]))]),
    )
    value = [("_value", "string", False)]
    rec["beats_since"] = (
        flux.users_with_beats_since(BUCKET, T0 + 3000),
        response([(value, [[{"_value": c.ALICE}]])]),
    )
    rec["beats_since_none"] = (flux.users_with_beats_since(BUCKET, T0 + 5000), response([]))
    return rec


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for name, (query, csv) in recordings().items():
        (OUT / f"{name}.flux").write_text(query)
        (OUT / f"{name}.csv").write_bytes(csv.encode())
        print(f"wrote recorded/{name}.flux and .csv")


if __name__ == "__main__":
    main()
