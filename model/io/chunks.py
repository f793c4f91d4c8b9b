"""Files read a few megabytes at a time: memory stays bounded by the chunk (and the compact result arrays), not by
the file, which a 200 MB RR file with a bad last line showed (8.2 GB read whole into Python strings).

- :func:`text_chunks`: the lines of a text file, in chunks, with their 1-based numbers; bytes that are not UTF-8,
  and NUL bytes, are an error naming the line.
- :func:`table_chunks`: a CSV file in chunks of rows (each parsed by pandas' C parser), every cell a string,
  each frame's index the 1-based line numbers of its rows.
- :class:`LineMap`: the line number of each of millions of values in a few bytes (lines are mostly consecutive).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from model.io._common import Lines

BLOCK_BYTES = 4 << 20  # text read per chunk: about 1 M short lines, 60 MB of Python strings at most
_PARSER_LINE = re.compile(r"line (\d+)")


UTF16_FIX = "save it as UTF-8 (e.g. iconv -f utf-16 -t utf-8 FILE > FILE.csv)"


def looks_utf16(head: bytes) -> bool:
    """A UTF-16 byte-order mark, or ASCII text in UTF-16 without one (every other byte NUL, the rest not: a
    binary file has NULs anywhere)."""
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return True
    sample = head[: len(head) // 2 * 2][:200]
    if len(sample) < 8:
        return False
    even, odd = sample[0::2], sample[1::2]
    return (odd.count(0) == len(odd) and even.count(0) == 0) or (even.count(0) == len(even) and odd.count(0) == 0)


def utf8_error(lines: Lines, data: bytes, exc: UnicodeDecodeError, first_line: int):
    bad = data[exc.start : exc.start + 1].hex()
    fix = "save it as UTF-8 (e.g. iconv -f latin1 -t utf-8), or check that it is the right file"
    return _byte_error(lines, data, exc.start, first_line, f"the file is not UTF-8 text (byte 0x{bad}", fix)


def nul_error(lines: Lines, data: bytes, at: int, first_line: int):
    """A NUL byte: in no text export (a damaged copy, a binary file); pandas read ``80<NUL>0`` as 80 ms."""
    fix = "check that it is the right file and not a damaged copy: RR exports hold no NUL bytes"
    return _byte_error(lines, data, at, first_line, "the file is not text (byte 0x00", fix)


def _byte_error(lines: Lines, data: bytes, at: int, first_line: int, problem: str, fix: str):
    """The error of the byte at ``at`` of ``data`` (whose first line is ``first_line``): ``problem`` + its line, or
    UTF-16 text when the file starts like it."""
    line = first_line + data.count(b"\n", 0, at)
    if first_line == 1 and looks_utf16(data):
        return lines.error("the file is UTF-16 text, not UTF-8", line=1, fix=UTF16_FIX)
    return lines.error(f"{problem} at line {line})", line=line, fix=fix)


def decode(lines: Lines, data: bytes, first_line: int) -> str:
    """Whole lines of a file, from line ``first_line``, as text; BadRRFile naming the line of the first byte that
    is not UTF-8 or is NUL."""
    nul = data.find(b"\x00")
    try:  # a NUL is never inside a multi-byte character: the text before it decodes alone
        text = (data if nul < 0 else data[:nul]).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise utf8_error(lines, data, exc, first_line) from None
    if nul >= 0:
        raise nul_error(lines, data, nul, first_line)
    return text


def open_binary(path: Path, lines: Lines):
    try:
        return path.open("rb")
    except IsADirectoryError:
        raise lines.error("is a directory, not a file", fix="name the file inside it") from None
    except FileNotFoundError:
        raise lines.error("no such file", fix="check the path") from None
    except OSError as exc:
        raise lines.error(f"cannot be read ({exc.strerror})", fix="check the path and its permissions") from None


def text_chunks(path: Path, lines: Lines, block_bytes: int = BLOCK_BYTES) -> Iterator[tuple[int, list[str]]]:
    """(number of the first line, lines without their end) per chunk; a UTF-8 byte order mark is dropped."""
    number, carry = 1, b""
    with open_binary(path, lines) as fh:
        while True:
            try:
                block = fh.read(block_bytes)
            except OSError as exc:
                raise lines.error(f"cannot be read ({exc.strerror})", line=number) from None
            data = carry + block
            if not data:
                return
            cut = data.rfind(b"\n") + 1 if block else len(data)
            if cut == 0:  # no line end in this block: read on
                carry = data
                continue
            piece, carry = data[:cut], data[cut:]
            text = decode(lines, piece, number)
            if number == 1:
                text = text.removeprefix("\ufeff")
            rows = text.split("\n")
            if text.endswith("\n"):
                rows.pop()
            yield number, rows
            number += len(rows)
            if not block:
                return


class LineMap:
    """Line numbers of values kept in file order: ``self[k]`` is the line of value ``k``. Stores one pair (value
    index, line) per run of consecutive lines, so a 50 M-line file costs bytes, not 400 MB."""

    def __init__(self) -> None:
        self._starts: list[int] = []  # value index where a run begins
        self._lines: list[int] = []  # line of that value
        self.size = 0

    def extend(self, line_numbers: np.ndarray) -> None:
        """Append the line numbers of the next values (increasing)."""
        if line_numbers.size == 0:
            return
        breaks = np.flatnonzero(np.diff(line_numbers) != 1) + 1
        previous = self[self.size - 1] if self.size else None
        if previous is None or int(line_numbers[0]) != previous + 1:
            self._starts.append(self.size)
            self._lines.append(int(line_numbers[0]))
        self._starts.extend((breaks + self.size).tolist())
        self._lines.extend(line_numbers[breaks].tolist())
        self.size += int(line_numbers.size)

    def __getitem__(self, k):
        if isinstance(k, np.ndarray) and k.dtype == bool:
            return self.array()[k]
        if isinstance(k, np.ndarray):
            run = np.searchsorted(self._starts, k, side="right") - 1
            return np.asarray(self._lines, dtype=np.int64)[run] + (k - np.asarray(self._starts, dtype=np.int64)[run])
        k = int(k)
        run = int(np.searchsorted(self._starts, k, side="right")) - 1
        return self._lines[run] + (k - self._starts[run])

    def array(self) -> np.ndarray:
        return self[np.arange(self.size)]


def _header(path: Path, lines: Lines) -> list[str]:
    for _, rows in text_chunks(path, lines):
        return [field.strip() for field in next(csv.reader(rows[:1] or [""]), [])]
    raise lines.error("the file is empty", fix="check that it is the right file")


def table_chunks(
    path: Path, lines: Lines, header: bool = True, names: list[str] | None = None, usecols=None
) -> Iterator[pd.DataFrame]:
    """CSV chunks, every cell a stripped string ("" where missing), index = 1-based line numbers; blank rows
    dropped. The columns are the header's (line 1), or ``names`` for a file without one; ``usecols`` keeps the
    columns whose name it accepts. A row with more fields than the header is an error naming the line (pandas'
    own chunked reader drops the extra fields without a word, so each chunk is parsed whole)."""
    columns = _header(path, lines) if header else list(names or [])
    if header and not any(columns):
        raise lines.error("the header line is empty", line=1, fix="the first line must name the columns")
    for first, rows in text_chunks(path, lines):
        if header and first == 1:
            rows, first = rows[1:], 2
        if not rows:
            continue
        frame = _parse_rows(rows, first, columns, lines)
        if usecols is not None:
            frame = frame[[c for c in frame.columns if usecols(c)]]
        blank = (frame == "").all(axis=1).to_numpy()
        yield frame[~blank] if blank.any() else frame


def _fields(row: str) -> int:
    return row.count(",") + 1 if '"' not in row else len(next(csv.reader([row]), [""]))


def _parse_rows(rows: list[str], first: int, columns: list[str], lines: Lines) -> pd.DataFrame:
    n = len(columns)
    numbers = np.arange(len(rows), dtype=np.int64) + first
    # pandas takes extra fields of a first row as an index and drops those of a later chunk silently: count them
    extra = np.fromiter((_fields(row) > n for row in rows), dtype=bool, count=len(rows))
    good = lines.check(
        extra,
        numbers,
        f"the row has more fields than the header's {n}",
        "fix the row (a comma inside a value must be quoted) or pass --skip-bad-lines",
    )
    if not good.all():
        rows = [row for row, ok in zip(rows, good.tolist(), strict=True) if ok]
        numbers = numbers[good]
    options = dict(dtype=str, keep_default_na=False, skip_blank_lines=False, skipinitialspace=True, index_col=False)
    try:
        frame = pd.read_csv(io.StringIO("\n".join(rows) + "\n"), header=None, names=columns, **options)
    except pd.errors.ParserError as exc:
        match = _PARSER_LINE.search(str(exc))
        raise lines.error(
            f"the row cannot be read as CSV ({str(exc).split(': ')[-1].strip()})",
            line=int(numbers[int(match.group(1)) - 1]) if match and int(match.group(1)) <= numbers.size else None,
            fix="check its quotes",
        ) from None
    frame.index = numbers[: len(frame)]
    return frame.fillna("").apply(lambda col: col.str.strip())


def read_table(path: Path, lines: Lines, **kwargs) -> pd.DataFrame:
    """The whole CSV file as one frame (covariate and Welltory files are small), as :func:`table_chunks`."""
    frames = list(table_chunks(path, lines, **kwargs))
    if not frames:
        columns = _header(path, lines) if kwargs.get("header", True) else list(kwargs.get("names") or [])
        usecols = kwargs.get("usecols")
        return pd.DataFrame(columns=[c for c in columns if usecols is None or usecols(c)], dtype=str)
    return pd.concat(frames) if len(frames) > 1 else frames[0]
