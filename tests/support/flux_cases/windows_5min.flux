// Hand-written: the Flux the adapter must send (comments aside), from the Flux documentation, never from the adapter.
// read_windows(["alice"], T0, T0 + 3 h, "5min"): the window tag is "5min"; Flux writes five minutes as the
// duration literal 5m. Otherwise as windows_two_users.flux.
from(bucket: "biometrics")
  |> range(start: 2026-11-16T00:00:00.000Z, stop: 2026-11-16T03:00:00.000Z)
  |> filter(fn: (r) => r["_measurement"] == "hrv" and r["window"] == "5min" and (r["user"] == "alice"))
  |> aggregateWindow(every: 5m, fn: last, createEmpty: false, timeSrc: "_start")
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
  |> keep(columns: ["_time", "user", "n_beats", "coverage", "artifact_pct", "mean_rr_ms", "mean_hr_bpm", "rmssd_ms", "ln_rmssd", "sdnn_ms", "pnn50", "valid"])
