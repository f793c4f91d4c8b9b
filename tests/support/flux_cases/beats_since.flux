// Hand-written: the Flux the adapter must send (comments aside), from the Flux documentation, never from the adapter.
// users_with_beats_since(T0 + 3 s): who sent a raw beat at or after that time, without reading the beats.
// schema.tagValues() answers the distinct values of one tag (one table, column _value) among the series whose
// points match predicate (here: the rr measurement) in [start, stop); stop keeps its default, now(). alice's
// last two beats are at T0 + 3.205 s and T0 + 4 s; bob never sent beats.
import "influxdata/influxdb/schema"

schema.tagValues(bucket: "biometrics", tag: "user", predicate: (r) => r["_measurement"] == "rr", start: 2026-11-16T00:00:03.000Z)
