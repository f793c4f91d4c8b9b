// Hand-written: the Flux the adapter must send (comments aside), from the Flux documentation, never from the adapter.
// read_scores(None): each user's newest point of the score measurement, whole (every field of that one point).
// range() needs a start: the epoch; stop: the largest time InfluxDB stores, so a point stamped by a host whose
//   clock runs ahead of this one is still read (a score's time is when it was scored).
// last(): each series' newest point, one per field, user and model (a selector InfluxDB pushes down to storage:
//   it reads one point per series, not every score ever written).
// pivot(): one row per _time with a column per field; the group key keeps user and model. The fields of the
//   newest point share its row. A field that point lacks (score, while calibrating) has an older last point:
//   a row of its own at that older time (alice: score 72 at 02:10, the rest at 03:01).
// group(columns: ["user"]): one table per user, whatever the model. group() does not keep rows in time order,
//   so sort(columns: ["_time"]); last(column: "_time") then returns each table's last row, the newest point
//   whole (_time is never null), without a field it did not have.
// keep(): the scores frame columns (server/stores/base.py SCORE_COLUMNS, _time read as scored_ms).
from(bucket: "biometrics")
  |> range(start: 1970-01-01T00:00:00.000Z, stop: 2262-04-11T23:47:16.853Z)
  |> filter(fn: (r) => r["_measurement"] == "score")
  |> last()
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
  |> group(columns: ["user"])
  |> sort(columns: ["_time"])
  |> last(column: "_time")
  |> keep(columns: ["_time", "user", "model", "score", "step_scores", "resolution", "first_ms", "horizon_h", "last_observed_ms", "newest_window_ms", "newest_beats"])
