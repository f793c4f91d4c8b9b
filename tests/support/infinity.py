"""What an Infinity backend query turns a JSON answer into, and what Grafana's alerting makes of that frame.

Infinity's and Grafana's Go code cannot run here, so the decisions that decide an alert's labels are written
out from their source (Infinity v3.0.0, the version docker-compose installs; ``grafana-plugin-sdk-go``;
Grafana's server-side expressions):

- columns (``infinity-libs`` ``jsonframer``/``gframer``): each row's selected columns, as nullable fields of
  the column's type (``timestamp_epoch``: epoch milliseconds as time).
- ``pkg/infinity/postprocess.go`` lines 57-77: with ``format: timeseries`` a long frame (a time field and a
  string field) goes through ``data.LongToWide``; failing that, or otherwise, the backend parser marks a frame
  numeric-wide when it has at most one row and a number (``pkg/dataplane/dataplane.go`` lines 67-82), else
  numeric-long when it has rows with numbers and strings (lines 84-102).
- ``data.LongToWide`` (sdk ``data/time_series.go``): rows must be sorted by time ("long series must be sorted
  ascending by time"); each string field becomes a label of the value fields; missing cells are null.
- Grafana's expressions: a numeric-wide frame gives one number per numeric field with that field's labels
  (string columns are dropped), a numeric-long frame one number per row labelled by its string columns, a
  wide time series one series per value field. ``reduce`` with ``dropNN`` drops a null number and the nulls of
  a series (``pkg/expr/commands.go`` ``ReduceCommand.Execute``); the min of an empty series is NaN
  (``pkg/expr/mathexp/reduce.go``); ``threshold`` passes NaN through (``binaryOp``), and ``buildResult``
  (``pkg/services/ngalert/eval/eval.go``) fires on any non-zero value, NaN included.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass
class Frame:
    fields: list[tuple[str, str, list, dict]]  # (name, kind: time|number|string, values, labels)
    meta_type: str = ""

    @property
    def rows(self) -> int:
        return len(self.fields[0][2]) if self.fields else 0


@dataclass(frozen=True)
class Instance:
    labels: tuple[tuple[str, str], ...]
    value: float
    firing: bool = field(default=False)


KIND_OF = {"string": "string", "number": "number", "timestamp_epoch": "time"}


def frame_of(rows: Sequence[Mapping], columns: Sequence[Mapping]) -> Frame:
    """jsonframer with explicit columns: one nullable field per column, in column order."""
    return Frame([(c["text"], KIND_OF[c["type"]], [r.get(c["selector"]) for r in rows], {}) for c in columns])


def _long_to_wide(frame: Frame) -> Frame | None:
    times = [f for f in frame.fields if f[1] == "time"]
    factors = [f for f in frame.fields if f[1] == "string"]
    values = [f for f in frame.fields if f[1] == "number"]
    if not times or not factors or not values or frame.rows == 0:
        return None  # not a long series: LongToWide refuses it
    stamps = times[0][2]
    if any(t is None for t in stamps) or list(stamps) != sorted(stamps):
        return None  # "long series must be sorted ascending by time", or null times
    hours = sorted(set(stamps))
    out = [(times[0][0], "time", hours, {})]
    series: dict[tuple, dict] = {}
    for i, t in enumerate(stamps):
        labels = tuple((f[0], f[2][i] or "") for f in factors)
        for name, _, vals, _ in values:
            series.setdefault((name, labels), {})[t] = vals[i]
    for (name, labels), by_time in series.items():
        out.append((name, "number", [by_time.get(h) for h in hours], dict(labels)))
    return Frame(out, "timeseries-wide")


def post_process(frame: Frame, fmt: str) -> Frame:
    """Infinity's ``PostProcessFrame`` for the backend parser."""
    if fmt == "timeseries" and (wide := _long_to_wide(frame)) is not None:
        return wide
    kinds = [f[1] for f in frame.fields]
    if frame.rows <= 1 and "number" in kinds:
        return Frame(frame.fields, "numeric-wide")
    if frame.rows > 1 and "number" in kinds and "string" in kinds:
        return Frame(frame.fields, "numeric-long")
    return frame


def _min_drop_nn(values: Sequence) -> float:
    kept = [v for v in values if v is not None and not math.isnan(v)]
    return min(kept) if kept else math.nan


def alert_instances(frame: Frame, threshold_below: float) -> list[Instance]:
    """Grafana's expressions on the frame: reduce(min, dropNN) then threshold(lt): one instance per series."""
    numbers: list[tuple[dict, float | None]] = []
    if frame.meta_type == "timeseries-wide":
        numbers = [(labels, _min_drop_nn(vals)) for _, kind, vals, labels in frame.fields if kind == "number"]
    elif frame.meta_type == "numeric-wide":
        numbers = [(labels, vals[0] if vals else None) for _, kind, vals, labels in frame.fields if kind == "number"]
    elif frame.meta_type == "numeric-long":
        strings = [f for f in frame.fields if f[1] == "string"]
        for _, kind, vals, _ in frame.fields:
            if kind == "number":
                numbers += [({s[0]: s[2][i] for s in strings}, v) for i, v in enumerate(vals)]
    out = []
    for labels, value in numbers:
        if value is None and frame.meta_type != "timeseries-wide":
            continue  # dropNN drops a null number
        value = math.nan if value is None else value
        firing = math.isnan(value) or value < threshold_below  # NaN < x is NaN, and NaN counts as firing
        out.append(Instance(tuple(sorted(labels.items())), value, firing))
    return out
