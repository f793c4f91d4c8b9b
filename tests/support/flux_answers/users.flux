import "influxdata/influxdb/schema"

schema.tagValues(bucket: "biometrics", tag: "user", start: 1970-01-01T00:00:00.000Z)