// Hand-written: the Flux the adapter must send (comments aside), from the Flux documentation, never from the adapter.
// _journal_records(): every record of the journal of pending units of writes (server/stores/journal.py), usually
// none. range() needs a start: the epoch (stop: now()); the records are points of one series (no tags), one per
// unit, at the unit's own time in ns; pivot() makes one row per record with its six fields as columns.
from(bucket: "biometrics")
  |> range(start: 1970-01-01T00:00:00.000Z, stop: now())
  |> filter(fn: (r) => r["_measurement"] == "hrvcast_pending")
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
  |> keep(columns: ["_time", "user_id", "first_ms", "last_ms", "deadline_ms", "host", "key_ns"])
