// Hand-written: the Flux the adapter must send (comments aside), from the Flux documentation, never from the adapter.
// read_forecasts(["alice"], T0, T0 + 6 h): the forecast measurement with its model tag kept, so the group
// key stays [model, user]: one table per model that wrote forecasts for the user.
from(bucket: "biometrics")
  |> range(start: 2026-11-16T00:00:00.000Z, stop: 2026-11-16T06:00:00.000Z)
  |> filter(fn: (r) => r["_measurement"] == "forecast" and (r["user"] == "alice"))
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
  |> keep(columns: ["_time", "user", "model", "rmssd_p10", "rmssd_p50", "rmssd_p90", "fatigue_score"])
