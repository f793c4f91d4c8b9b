// Hand-written: the Flux the adapter must send (comments aside), from the Flux documentation, never from the adapter.
// last_observation(None, "1h"): the newest hourly window of every user. range() needs a start: the epoch
// (stop: now()). One field (n_beats, present in every window) gives one series per user and window tag;
// last() is a selector that returns the last row of each table, i.e. each user's newest window.
from(bucket: "biometrics")
  |> range(start: 1970-01-01T00:00:00.000Z, stop: now())
  |> filter(fn: (r) => r["_measurement"] == "hrv" and r["_field"] == "n_beats" and r["window"] == "1h")
  |> last()
  |> keep(columns: ["_time", "_value", "user"])
