// Hand-written: the Flux the adapter must send (comments aside), from the Flux documentation, never from the adapter.
// read_scores(["alice", "carol_9"]): scores_all.flux for two users, named as one anchored regular expression
// (=~, pushed down to storage like an equality; no character of these two ids needs escaping). carol_9 was never
// scored: no table for her.
from(bucket: "biometrics")
  |> range(start: 1970-01-01T00:00:00.000Z, stop: 2262-04-11T23:47:16.853Z)
  |> filter(fn: (r) => r["_measurement"] == "score" and (r["user"] =~ /^(?:alice|carol_9)$/))
  |> last()
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
  |> group(columns: ["user"])
  |> sort(columns: ["_time"])
  |> last(column: "_time")
  |> keep(columns: ["_time", "user", "model", "score", "step_scores", "resolution", "first_ms", "horizon_h", "last_observed_ms", "newest_window_ms", "newest_beats"])
