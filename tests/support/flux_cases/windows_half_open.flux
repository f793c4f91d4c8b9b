// Hand-written: the Flux the adapter must send (comments aside), from the Flux documentation, never from the adapter.
// read_windows(["alice"], T0 + 1 h, T0 + 2 h, "1h"): range() includes start and excludes stop, so exactly
// the window that starts at T0 + 1 h. Otherwise as windows_two_users.flux.
from(bucket: "biometrics")
  |> range(start: 2026-11-16T01:00:00.000Z, stop: 2026-11-16T02:00:00.000Z)
  |> filter(fn: (r) => r["_measurement"] == "hrv" and r["window"] == "1h" and (r["user"] == "alice"))
  |> aggregateWindow(every: 1h, fn: last, createEmpty: false, timeSrc: "_start")
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
  |> keep(columns: ["_time", "user", "n_beats", "coverage", "artifact_pct", "mean_rr_ms", "mean_hr_bpm", "rmssd_ms", "ln_rmssd", "sdnn_ms", "pnn50", "valid"])
