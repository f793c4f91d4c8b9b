"""RR file readers: ``read_rr(path, ReadOptions(...)) -> RRRecording``.

Formats (``FORMATS``): ``plain`` (one interval per line, ms or s by the median), ``csv`` (``timestamp,rr_ms``),
``mmash`` (MMASH ``RR.csv``), ``physionet`` (nsr2db RR text, line 1 = start offset), ``e4`` (Empatica
``IBI.csv``), ``welltory`` (readings with an RR list), ``polar`` (Polar / Elite HRV / Kubios RR text with
header lines), ``apple-health`` (``export.xml``). ``auto`` picks one from the file's first lines when that is
unambiguous and raises :class:`UnknownFormat` otherwise; the chosen format is ``RRRecording.format``.
Every reader validates the whole file before it returns (see ``_common``), in bounded memory.
"""

from __future__ import annotations

import re
import stat
from pathlib import Path

from model.errors import BadRRFile, UnknownFormat
from model.io._common import DEFAULT_OPTIONS, Lines, ReadOptions, RRRecording
from model.io._times import parse_start, parse_start_date
from model.io.apple import read_apple_health
from model.io.chunks import UTF16_FIX, looks_utf16, text_chunks
from model.io.tabular import (
    RR_COLUMNS,
    TIME_COLUMNS,
    WELLTORY_RR_COLUMNS,
    WELLTORY_TIME_COLUMNS,
    read_csv_rr,
    read_e4,
    read_mmash,
    read_welltory,
)
from model.io.text import read_physionet, read_plain, read_polar

__all__ = ["FORMATS", "RRRecording", "ReadOptions", "check_file", "detect_format", "read_rr"]

FORMATS: tuple[str, ...] = ("plain", "csv", "mmash", "physionet", "e4", "welltory", "polar", "apple-health")
_NUMBER = re.compile(r"^\s*[-+]?(\d+([.,]\d*)?|[.,]\d+)([eE][-+]?\d+)?\s*$")
_E4_HEADER = re.compile(r"^\s*\d+(\.\d*)?\s*,\s*IBI\s*$", re.IGNORECASE)
PHYSIONET_MIN_OFFSET_S = 3.0  # a first value above this, in a seconds file, is nsr2db's start offset


def _header_fields(line: str) -> set[str]:
    return {f.strip().strip('"').lower() for f in line.split(",")}


_NOT_REGULAR = (
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
)


def check_file(path: Path | str, what: str = "file") -> Path:
    """``path`` if it is a regular file; else BadRRFile saying what it is instead (missing, a directory, a device,
    a pipe: /dev/zero was said not to exist, and would be read for ever)."""
    path = Path(path)
    if path.is_dir():
        raise BadRRFile(str(path), f"the {what} is a directory, not a file", fix="name the file inside it")
    if path.is_file():
        return path
    try:
        mode = path.stat().st_mode
    except OSError:
        raise BadRRFile(str(path), f"the {what} does not exist", fix="check the path") from None
    kind = next((name for test, name in _NOT_REGULAR if test(mode)), "a special file")
    raise BadRRFile(
        str(path),
        f"the {what} is {kind}, not a regular file",
        fix="pass the file itself: save a stream or a device's output to a file first",
    )


def _refuse_utf16(path: Path) -> None:
    """BadRRFile for a UTF-16 file: read as UTF-8 it is mojibake that matches no format, or NUL-laden fields."""
    try:
        with path.open("rb") as raw:
            head = raw.read(200)
    except OSError as exc:
        raise BadRRFile(str(path), f"cannot be read ({exc.strerror})") from None
    if looks_utf16(head):
        raise BadRRFile(str(path), "the file is UTF-16 text, not UTF-8", line=1, fix=UTF16_FIX)


def _refuse_non_text(path: Path, head: list[str]) -> None:
    """BadRRFile naming a byte of the first lines (``head``, as read) that is not UTF-8 or is NUL, as the text
    readers name one further on: read as U+FFFD, such a byte in the header line matched no format, and the message
    was "cannot tell the format". A file whose first lines are text is left to the readers."""
    if not any("\ufffd" in line or "\x00" in line for line in head):
        return
    n_read = sum(1 for line in head if line)
    for first, rows in text_chunks(path, Lines(path, skip_bad_lines=False)):  # raises at the bad byte
        if first + len(rows) > n_read:
            return


def detect_format(path: Path | str) -> str:
    """Guess the format from the first lines; raise UnknownFormat when no rule or several rules match."""
    path = Path(path)
    _refuse_utf16(path)
    try:
        with path.open(encoding="utf-8", errors="replace") as fh:
            head = [fh.readline() for _ in range(20)]
    except OSError as exc:
        raise BadRRFile(str(path), f"cannot be read ({exc.strerror})") from None
    as_read = head
    head = [line for line in head if line.strip()]
    if not head:
        raise BadRRFile(str(path), "the file is empty", fix="check that it is an RR export")
    first = head[0].lstrip("\ufeff")
    if first.lstrip().startswith("<?xml") or "<HealthData" in "".join(head):
        return "apple-health"  # XML names its own encoding
    _refuse_non_text(path, as_read)
    if _E4_HEADER.match(first):
        return "e4"
    fields = _header_fields(first)
    for sep, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "bars")):
        other = {f.strip().strip('"').lower() for f in first.split(sep)}
        if sep in first and "," not in first and other & set(TIME_COLUMNS + WELLTORY_TIME_COLUMNS):
            raise BadRRFile(
                str(path),
                f"the fields are separated by {name}, not commas",
                line=1,
                fix="save the file as comma-separated CSV (decimal points, not commas)",
            )
    if {"ibi_s", "day", "time"} <= fields:
        return "mmash"
    if fields & set(WELLTORY_RR_COLUMNS):
        return "welltory"
    if fields & set(TIME_COLUMNS) and fields & set(RR_COLUMNS):
        return "csv"
    is_number = [bool(_NUMBER.match(line)) for line in head]
    if is_number[0] and sum(is_number) * 2 >= len(head):  # a stray bad line is the reader's to report
        values = [float(line.replace(",", ".")) for line, ok in zip(head, is_number, strict=True) if ok]
        rest = sorted(values[1:]) or values
        seconds = rest[len(rest) // 2] < 10
        return "physionet" if seconds and values[0] > PHYSIONET_MIN_OFFSET_S else "plain"
    last_field = [bool(_NUMBER.match(line.split()[-1])) for line in head]
    if True in last_field:
        body = last_field[last_field.index(True) :]
        if sum(body) * 5 >= 4 * len(body):  # header lines, then (mostly) one interval per line
            return "polar"
    raise UnknownFormat(
        f"{path}: cannot tell the format from its first lines ({first.strip()[:60]!r}): "
        f"pass --format, one of {', '.join(FORMATS)}"
    )


def read_rr(path: Path | str, options: ReadOptions = DEFAULT_OPTIONS) -> RRRecording:
    """Read and validate one RR recording (``options``: format, clock, units, subject, bad-line policy)."""
    path = check_file(path, "RR file")
    source = str(path)
    _refuse_utf16(path)
    fmt = options.fmt
    chosen = detect_format(path) if fmt == "auto" else fmt
    if chosen not in FORMATS:
        raise UnknownFormat(f"format {fmt!r} is not supported: use auto or one of {', '.join(FORMATS)}")
    lines = Lines(path, options.skip_bad_lines)
    start_ms = parse_start(options.start, source, options)
    if chosen == "plain":
        return read_plain(path, start_ms, options, lines)
    if chosen == "physionet":
        return read_physionet(path, start_ms, options, lines)
    if chosen == "polar":
        return read_polar(path, start_ms, options, lines)
    if chosen == "csv":
        return read_csv_rr(path, options, lines)
    if chosen == "mmash":
        day1_ms = parse_start_date(options.start_date, source, options)
        if day1_ms is None and start_ms is not None:
            day1_ms = start_ms - start_ms % 86_400_000
        return read_mmash(path, day1_ms, options, lines)
    if chosen == "e4":
        return read_e4(path, options, lines)
    if chosen == "welltory":
        return read_welltory(path, options, lines)
    return read_apple_health(path, options, lines)
