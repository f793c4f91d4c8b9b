"""Writes ``flux_cases/NAME.csv``: the answer InfluxDB 2 would give to the hand-written query ``NAME.flux``.

No InfluxDB 2 server can run here, so nothing in ``flux_cases/`` was recorded from one. The ``.flux`` files
are written by hand from the Flux documentation (each says why every clause is there) and are never
generated: the adapter's query must equal them, so a wrong query fails the tests. The ``.csv`` answers are
*synthesized* here from the literals in ``store_cases.py`` (never from the adapter) in InfluxDB 2.x's
documented ``/api/v2/query`` wire format (annotated CSV with the ``datatype``, ``group`` and ``default``
annotations the client asks for, CRLF line ends, one block per table schema, one table per group key,
RFC 3339 times with trailing zeros trimmed, doubles as Go's ``FormatFloat(v, 'f', -1, 64)``, nulls as empty
cells), and the tests parse them with influxdb-client's own parser. Re-run after changing the test data:
``python -m tests.support.make_flux_answers``.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from tests.support import store_cases as c

BUCKET = "biometrics"
OUT = Path(__file__).resolve().parent / "flux_cases"
FIELD_TYPES = {  # every other field is a double
    "n_beats": "long",
    "valid": "boolean",
    "end_ms": "long",
    **dict.fromkeys(("first_ms", "last_ms", "deadline_ms", "key_ns"), "long"),
    **dict.fromkeys(("horizon_h", "last_observed_ms", "newest_window_ms"), "long"),
    **dict.fromkeys(("user_id", "host", "step_scores", "resolution"), "string"),
}
PENDING = {  # a unit of writes left half-done on another host, long ago (server/stores/journal.py)
    "user_id": "carol_9",
    "first_ms": 1_794_787_200_000,
    "last_ms": 1_794_790_800_000,
    "deadline_ms": 1_794_791_100_000,
    "host": "elsewhere:/tmp/hrvcast-locks",
    "key_ns": 1_794_790_900_000_000_000,
}


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
    text = str(value)  # RFC 4180, which annotated CSV follows: a cell holding a comma or a quote is quoted
    return '"' + text.replace('"', '""') + '"' if any(ch in text for ch in ',"\r\n') else text


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


def answers() -> dict[str, str]:
    """Case name -> the annotated CSV InfluxDB 2 answers to ``NAME.flux``, built from the test data alone."""
    T0, H = c.T0, c.H
    out = {}
    alice_1h = window_rows(c.ALICE_1H, c.ALICE, T0, T0 + 3 * H)
    out["windows_two_users"] = response([(WINDOW_COLS, [alice_1h, window_rows(c.BOB_1H, c.BOB, T0, T0 + 3 * H)])])
    out["windows_half_open"] = response([(WINDOW_COLS, [window_rows(c.ALICE_1H, c.ALICE, T0 + H, T0 + 2 * H)])])
    out["windows_5min"] = response([(WINDOW_COLS, [window_rows(c.ALICE_5MIN, c.ALICE, T0, T0 + 3 * H)])])
    out["windows_nobody"] = response([])
    last_cols = [TIME, ("_value", "long", False), USER]  # last() of n_beats: the newest window's beat count
    newest = {  # the newest hourly window of each user in store_cases: (start, n_beats)
        c.ALICE: (T0 + 2 * H, int(c.ALICE_1H["n_beats"].iloc[-1])),
        c.BOB: (T0 + 2 * H, int(c.BOB_1H["n_beats"].iloc[-1])),
    }
    out["last_all"] = response([(last_cols, [[{"_time": t, "_value": n, "user": u}] for u, (t, n) in newest.items()])])
    out["last_bob"] = response(
        [(last_cols, [[{"_time": newest[c.BOB][0], "_value": newest[c.BOB][1], "user": c.BOB}]])]
    )
    five = int(c.ALICE_5MIN["n_beats"].iloc[-1])
    out["last_5min"] = response([(last_cols, [[{"_time": T0, "_value": five, "user": c.ALICE}]])])
    out["users"] = response([([("_value", "string", False)], [[{"_value": c.ALICE}, {"_value": c.BOB}]])])
    beats = [
        {"_time": int(t), "ibi_ms": float(v)}
        for t, v in zip(c.ALICE_BEATS_MS, c.ALICE_IBI_MS, strict=True)
        if T0 <= t < T0 + 2400
    ]
    out["beats"] = response([([TIME, ("ibi_ms", "double", False)], [beats])])
    sleep = [
        {"_time": r["start"], "user": c.ALICE, "duration_min": r["duration_min"], "end_ms": r["end"]}
        for r in c.ALICE_SLEEP.to_dict("records")
    ]  # bob's only episode ended before T0
    out["sleep"] = response([([TIME, USER, *fields(["duration_min", "end_ms"])], [sleep])])
    alice_act = [{"_time": r.pop("time"), "user": c.ALICE, **r} for r in c.ALICE_ACTIVITY.to_dict("records")]
    bob_act = [{"_time": r["time"], "user": c.BOB, "steps": r["steps"]} for r in c.BOB_ACTIVITY.to_dict("records")]
    out["activity"] = response(
        [
            ([TIME, USER, *fields(["heart_rate_bpm", "steps"])], [alice_act]),
            ([TIME, USER, *fields(["steps"])], [bob_act]),  # bob never sent heart rate
        ]
    )
    fc_cols = [TIME, ("model", "string", True), USER, *fields(c.ALICE_FORECAST_A.columns[1:])]
    tables = [
        [{"_time": r.pop("time"), "model": model, "user": c.ALICE, **r} for r in frame.to_dict("records")]
        for model, frame in ((c.MODEL_A, c.ALICE_FORECAST_A), (c.MODEL_B, c.ALICE_FORECAST_B))
    ]
    out["forecasts"] = response([(fc_cols, tables)])
    pending = [{"_time": PENDING["key_ns"] // 1_000_000, **PENDING}]
    out["pending"] = response([([TIME, *fields(PENDING)], [pending])])
    score_cols = [TIME, ("model", "string", False), USER, *fields(c.SCORES.columns[3:])]

    def newest(users):  # each user's newest summary (store_cases.NEWEST_SCORES), one table per user
        rows = [r for r in c.NEWEST_SCORES.to_dict("records") if r["user"] in users]
        return [[{"_time": r.pop("scored_ms"), **r}] for r in rows]

    out["scores_all"] = response([(score_cols, newest([c.ALICE, c.BOB]))])
    out["scores_some"] = response([(score_cols, newest([c.ALICE]))])
    out["beats_since"] = response([([("_value", "string", False)], [[{"_value": c.ALICE}]])])
    out["beats_since_none"] = response([])
    return out


def main() -> None:
    for name, csv in answers().items():
        if not (OUT / f"{name}.flux").is_file():
            raise SystemExit(f"{OUT / name}.flux is missing: write the expected query by hand first")
        (OUT / f"{name}.csv").write_bytes(csv.encode())
        print(f"wrote flux_cases/{name}.csv")


if __name__ == "__main__":
    main()
