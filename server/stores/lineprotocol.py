"""InfluxDB line protocol, pure: escaping for each position and columnar encoding of points.

Written by hand because influxdb-client's ``Point`` builds one object per point (about 10x slower for the
100k beats of a day) and the v1 adapter does not otherwise need that client. Escaping follows the
InfluxDB reference: measurement names escape commas and spaces; tag keys, tag values and field keys escape
commas, equals signs and spaces; string field values escape double quotes and backslashes. Newlines and
backslashes cannot round-trip through a tag value, so such values are refused, never altered.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

_TAG_TABLE = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ "})
_MEASUREMENT_TABLE = str.maketrans({",": r"\,", " ": r"\ "})


def escape_measurement(name: str) -> str:
    _refuse_unstorable(name, "measurement")
    return name.translate(_MEASUREMENT_TABLE)


def escape_key(key: str) -> str:
    """A tag key, tag value or field key."""
    _refuse_unstorable(key, "tag or field")
    return key.translate(_TAG_TABLE)


def escape_string_field(value: str) -> str:
    """A string field value, quotes included."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _refuse_unstorable(text: str, what: str) -> None:
    if not text or "\\" in text or any(ord(c) < 32 for c in text):
        raise ValueError(
            f"{what} {text!r} cannot be stored in InfluxDB line protocol: use a non-empty value "
            "without backslashes, newlines or other control characters"
        )


def series_key(measurement: str, tags: Mapping[str, str]) -> str:
    """``measurement,tag=value,...`` with tags sorted by key (InfluxDB's preferred order)."""
    parts = [escape_measurement(measurement)]
    parts += [f"{escape_key(k)}={escape_key(v)}" for k, v in sorted(tags.items())]
    return ",".join(parts)


def _format_column(name: str, values: np.ndarray) -> list[str]:
    """``name=value`` per row in line-protocol syntax; '' where the value is missing (NaN) or not finite."""
    prefix = escape_key(name) + "="
    if values.dtype == np.bool_:
        return [prefix + ("true" if v else "false") for v in values.tolist()]
    if values.dtype.kind in "OU":
        return [prefix + escape_string_field(str(v)) for v in values.tolist()]
    if np.issubdtype(values.dtype, np.integer):
        return [f"{prefix}{v}i" for v in values.tolist()]
    floats = values.astype(np.float64)
    if np.isfinite(floats).all():
        return [f"{prefix}{v!r}" for v in floats.tolist()]
    finite = np.isfinite(floats).tolist()
    return [f"{prefix}{v!r}" if ok else "" for v, ok in zip(floats.tolist(), finite, strict=True)]


def _fast_template(key: str, fields: Mapping[str, np.ndarray]) -> tuple[str, list[list]] | None:
    """When no value is missing: one ``str.format`` template per line and its value columns (one call per
    line instead of one per field); None when some value is missing or not finite."""
    parts, columns = [], []
    for name, values in fields.items():
        prefix = escape_key(name).replace("{", "{{").replace("}", "}}") + "="
        if values.dtype == np.bool_:
            parts.append(prefix + "{}")
            columns.append(np.where(values, "true", "false").tolist())
        elif values.dtype.kind in "OU":  # strings (a summary's step scores)
            parts.append(prefix + "{}")
            columns.append([escape_string_field(str(v)) for v in values.tolist()])
        elif np.issubdtype(values.dtype, np.integer):
            parts.append(prefix + "{}i")
            columns.append(values.tolist())
        else:
            floats = values.astype(np.float64)
            if not np.isfinite(floats).all():
                return None
            parts.append(prefix + "{!r}")
            columns.append(floats.tolist())
    return key.replace("{", "{{").replace("}", "}}") + " " + ",".join(parts) + " {}", columns


def encode(
    measurement: str, tags: Mapping[str, str], fields: Mapping[str, np.ndarray], times_ms: np.ndarray
) -> list[str]:
    """One line per time (precision ms). ``fields``: name -> array of len(times_ms); int64 arrays are written
    as integers, bool as booleans, str (object) arrays as strings, anything else as floats. Missing values are
    left out of their line; a line with no field left is dropped (line protocol cannot carry it)."""
    key = series_key(measurement, tags)
    times = np.asarray(times_ms, dtype=np.int64).tolist()
    arrays = {name: np.asarray(values) for name, values in fields.items()}
    fast = _fast_template(key, arrays)
    if fast is not None:
        template, columns = fast
        return [template.format(*row) for row in zip(*columns, times, strict=True)]
    columns = [_format_column(name, values) for name, values in arrays.items()]
    bodies = (",".join(filter(None, row)) for row in zip(*columns, strict=True))
    return [f"{key} {body} {t}" for body, t in zip(bodies, times, strict=True) if body]


def encode_single(
    measurement: str, tags: Mapping[str, str], field: str, values: np.ndarray, times_ms: np.ndarray
) -> list[str]:
    """Fast path for one float field (raw beats): missing values dropped."""
    prefix = f"{series_key(measurement, tags)} {escape_key(field)}="
    floats = np.asarray(values, dtype=np.float64)
    keep = np.isfinite(floats)
    times = np.asarray(times_ms, dtype=np.int64)[keep].tolist()
    return [f"{prefix}{v!r} {t}" for v, t in zip(floats[keep].tolist(), times, strict=True)]
