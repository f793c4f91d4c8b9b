// Hand-written: the Flux the adapter must send (comments aside), from the Flux documentation, never from the adapter.
// read_sleep(["alice", "bob.smith-2"], T0, T0 + 3 h): an episode is stored at its onset with the field end_ms,
// so an episode that began before T0 and is still on at T0 has its point before range(): read from 48 h
// earlier (2026-11-14T00:00Z), pivot the fields into columns, then keep the episodes that end after T0
// (end_ms > 1794787200000, an int compared with the long field). bob's episode ended before T0: not returned.
// The two users are one anchored regular expression (=~), as in windows_two_users.flux.
from(bucket: "biometrics")
  |> range(start: 2026-11-14T00:00:00.000Z, stop: 2026-11-16T03:00:00.000Z)
  |> filter(fn: (r) => r["_measurement"] == "sleep" and (r["user"] =~ /^(?:alice|bob\.smith-2)$/))
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
  |> filter(fn: (r) => r["end_ms"] > 1794787200000)
  |> keep(columns: ["_time", "user", "duration_min", "end_ms"])
