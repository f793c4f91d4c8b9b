"""Reader memory benchmark: peak memory of reading a 200 MB RR file, beside the file's size (issue 15 item 5).

    .venv/bin/python bench/ingest.py [--mb 200] [--keep DIR]

Three files of ``--mb`` megabytes are written to a temporary folder: a plain RR file (one interval per line, about
4 bytes a line) whose last line is bad, the same file without the bad line, and a generic ``timestamp,rr_ms``
CSV. Each is read by ``model.io.read_rr`` in a fresh process; the figure is that process's peak resident memory
(``ru_maxrss`` from ``wait4``), printed beside the file size and beside a process that only imports the readers
(Python, numpy and pandas), all measured in the same run. Goal: under 1 GB (1024 MiB) for the bad plain file and
the CSV; the old readers took 8.2 GB and 1.6 GB.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
GOAL_MIB = 1024.0
T0 = np.datetime64("2026-01-01T00:00:00", "ms")
READ = """
import sys
from model.errors import BadRRFile
from model.io import ReadOptions, read_rr
try:
    rec = read_rr(sys.argv[1], ReadOptions(start="2026-01-01T00:00:00Z", any_time=True))
    print(f"read {rec.ibi_ms.size} beats")
except BadRRFile as exc:
    print(f"refused: {exc.message[-80:]}")
"""
IMPORTS = "import model.io, pandas, numpy"


def write_plain(path: Path, mb: int, bad_last_line: bool) -> None:
    rng = np.random.default_rng(0)
    block = "\n".join(map(str, rng.integers(600, 1100, 250_000).tolist())).encode() + b"\n"  # ~1 MB
    with path.open("wb") as fh:
        while fh.tell() < mb * 1_000_000:
            fh.write(block)
        if bad_last_line:
            fh.write(b"81 2\n")


def write_csv(path: Path, mb: int) -> None:
    rng = np.random.default_rng(1)
    t = T0
    with path.open("w") as fh:
        fh.write("timestamp,rr_ms\n")
        while fh.tell() < mb * 1_000_000:
            ibi = np.round(rng.uniform(600, 1100, 100_000), 1)
            times = t + np.cumsum(np.round(ibi)).astype("timedelta64[ms]")
            t = times[-1]
            stamps = np.char.add(np.datetime_as_string(times, unit="ms"), "Z")
            fh.write("".join(f"{s},{v}\n" for s, v in zip(stamps.tolist(), ibi.tolist(), strict=True)))


def peak_mib(code: str, *args: str) -> tuple[float, float, str]:
    """(peak RSS MiB, seconds, last output line) of a fresh Python running ``code``."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(out)
    return usage.ru_maxrss / 1024.0, time.perf_counter() - start, out.strip().splitlines()[-1] if out.strip() else ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200, help="file size in MB (200)")
    parser.add_argument("--keep", type=Path, help="write the files here and keep them")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="hrvcast-bench-ingest-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        files = {
            "plain RR, bad last line": folder / "bad.txt",
            "plain RR, valid": folder / "good.txt",
            "CSV timestamp,rr_ms, valid": folder / "rr.csv",
        }
        write_plain(files["plain RR, bad last line"], args.mb, bad_last_line=True)
        write_plain(files["plain RR, valid"], args.mb, bad_last_line=False)
        write_csv(files["CSV timestamp,rr_ms, valid"], args.mb)
        base, _, _ = peak_mib(IMPORTS)
        print(f"imports alone (Python, numpy, pandas, model.io): peak {base:7.1f} MiB")
        worst = 0.0
        for name, path in files.items():
            size = path.stat().st_size / 2**20
            peak, seconds, outcome = peak_mib(READ, str(path))
            if "valid" not in name or "CSV" in name:
                worst = max(worst, peak)
            print(
                f"{name:28s} {size:6.1f} MiB file: peak {peak:7.1f} MiB = {peak / size:4.2f} x the file "
                f"({peak - base:7.1f} MiB above imports), {seconds:5.1f} s; {outcome}"
            )
        print(f"worst of the bad plain file and the CSV: {worst:.0f} MiB (goal < {GOAL_MIB:.0f} MiB)")
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
