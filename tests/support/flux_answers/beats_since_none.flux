import "influxdata/influxdb/schema"

schema.tagValues(bucket: "biometrics", tag: "user", predicate: (r) => r["_measurement"] == "rr", start: 2026-11-16T00:00:05.000Z)