// Hand-written: the Flux the adapter must send (comments aside), from the Flux documentation, never from the adapter.
// read_windows(["alice", "bob.smith-2", "carol_9"], T0, T0 + 3 h, "1h"), T0 = 2026-11-16T00:00:00Z.
// range(): start is inclusive, stop exclusive, so the hour starting at T0 + 3 h is not read.
// filter(): one measurement, one window size, and the users as one regular expression (=~, "equal to regular
//   expression" in the Flux operators reference; anchored with ^...$ so a name is matched whole, the dot of
//   bob.smith-2 escaped as regexp.quoteMeta() does). A tag compared with a string or a regex pushes down to
//   storage; one term whatever the number of users, where an or-chain grows by one expression per user.
// aggregateWindow(): one point per window already, so fn: last keeps it (mean is undefined on the boolean
//   field valid); timeSrc: "_start" stamps it at the window start (the default "_stop" would move it an hour).
// pivot(): one row per _time with a column per _field. keep(): the columns the store protocol returns;
//   dropping _start, _stop, _measurement and window leaves the group key [user]: one table per user.
from(bucket: "biometrics")
  |> range(start: 2026-11-16T00:00:00.000Z, stop: 2026-11-16T03:00:00.000Z)
  |> filter(fn: (r) => r["_measurement"] == "hrv" and r["window"] == "1h" and (r["user"] =~ /^(?:alice|bob\.smith-2|carol_9)$/))
  |> aggregateWindow(every: 1h, fn: last, createEmpty: false, timeSrc: "_start")
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
  |> keep(columns: ["_time", "user", "n_beats", "coverage", "artifact_pct", "mean_rr_ms", "mean_hr_bpm", "rmssd_ms", "ln_rmssd", "sdnn_ms", "pnn50", "valid"])
