// Hand-written: the Flux the adapter must send (comments aside), from the Flux documentation, never from the adapter.
// read_beats("alice", T0, T0 + 2.4 s): one user's rr points in [start, stop) at millisecond precision;
// pivot() turns the one field into the column ibi_ms; keep() leaves no group key column (one table).
from(bucket: "biometrics")
  |> range(start: 2026-11-16T00:00:00.000Z, stop: 2026-11-16T00:00:02.400Z)
  |> filter(fn: (r) => r["_measurement"] == "rr" and r["_field"] == "ibi_ms" and r["user"] == "alice")
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
  |> keep(columns: ["_time", "ibi_ms"])
