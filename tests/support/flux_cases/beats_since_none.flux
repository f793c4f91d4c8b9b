// Hand-written: the Flux the adapter must send (comments aside), from the Flux documentation, never from the adapter.
// users_with_beats_since(T0 + 5 s): beats_since.flux from after alice's last beat: nobody, an empty answer.
import "influxdata/influxdb/schema"

schema.tagValues(bucket: "biometrics", tag: "user", predicate: (r) => r["_measurement"] == "rr", start: 2026-11-16T00:00:05.000Z)
