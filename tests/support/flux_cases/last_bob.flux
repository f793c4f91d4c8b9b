// Hand-written: the Flux the adapter must send (comments aside), from the Flux documentation, never from the adapter.
// last_observation(["bob.smith-2"], "1h"): as last_all.flux with the user predicate and-ed on.
from(bucket: "biometrics")
  |> range(start: 1970-01-01T00:00:00.000Z, stop: now())
  |> filter(fn: (r) => r["_measurement"] == "hrv" and r["_field"] == "n_beats" and r["window"] == "1h" and (r["user"] == "bob.smith-2"))
  |> last()
  |> keep(columns: ["_time", "_value", "user"])
