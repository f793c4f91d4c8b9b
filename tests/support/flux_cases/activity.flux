// Hand-written: the Flux the adapter must send (comments aside), from the Flux documentation, never from the adapter.
// read_activity(["alice", "bob.smith-2"], T0, T0 + 3 h): hourly activity points; pivot() makes steps and
// heart_rate_bpm columns. bob never sent a heart rate, so his table has no heart_rate_bpm column; the
// synthesized answer assumes keep() passes a listed column a table lacks without error (not run on a server).
// The two users are one anchored regular expression (=~), as in windows_two_users.flux.
from(bucket: "biometrics")
  |> range(start: 2026-11-16T00:00:00.000Z, stop: 2026-11-16T03:00:00.000Z)
  |> filter(fn: (r) => r["_measurement"] == "activity" and (r["user"] =~ /^(?:alice|bob\.smith-2)$/))
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
  |> keep(columns: ["_time", "user", "steps", "heart_rate_bpm"])
