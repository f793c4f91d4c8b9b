// Hand-written: the Flux the adapter must send (comments aside), from the Flux documentation, never from the adapter.
// list_users(): schema.tagValues() answers one table with one column, _value. Its start defaults to -30d,
// which would forget a user silent for a month: start at the epoch (stop keeps its default, now()). The
// predicate keeps the values to hrvcast's six measurements: another program's "user" tag in a shared bucket is
// not a user (a regex is pushed down to storage like ==).
import "influxdata/influxdb/schema"

schema.tagValues(bucket: "biometrics", tag: "user", predicate: (r) => r["_measurement"] =~ /^(?:rr|hrv|sleep|activity|forecast|score)$/, start: 1970-01-01T00:00:00.000Z)
