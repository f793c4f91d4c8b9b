// Hand-written: the Flux the adapter must send (comments aside), from the Flux documentation, never from the adapter.
// last_observation(None, "5min"): as last_all.flux for the five-minute windows.
from(bucket: "biometrics")
  |> range(start: 1970-01-01T00:00:00.000Z, stop: now())
  |> filter(fn: (r) => r["_measurement"] == "hrv" and r["_field"] == "n_beats" and r["window"] == "5min")
  |> last()
  |> keep(columns: ["_time", "_value", "user"])
