"""Ingest pipeline benchmark: a week of beats stored with its windows, first and again, beside the store's raw write.

    .venv/bin/python bench/ingest_pipeline.py [--days 7]

Prints, from the same run, the seconds of ``server.pipeline.ingest.ingest_file`` into a temporary SQLite store
(validation, the check against the stored beats, beats, hourly and daily windows) for a first ingest and for
ingesting the same file again (every beat already stored: the check reads them all back, 200,000 per read), and
of ``SQLiteStore.write_beats`` alone on the same beats (the peer: the floor of any ingest), with their ratios.
Bounded: three writes of one synthetic recording, loopback only.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from server.pipeline.ingest import IngestFiles, ingest_file
from server.stores.sqlite import SQLiteStore
from tests.support.beats import synthetic_beats, write_csv

START_MS = 1_764_000_000_000  # 2025-11-24T16:00Z


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=7, help="days of beats in the recording (default 7)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hrvcast-bench-pipeline-") as tmp:
        folder = Path(tmp)
        t, ibi = synthetic_beats(24 * args.days, seed=1, start_ms=START_MS)
        write_csv(folder / "week.csv", t, ibi)
        raw = SQLiteStore(folder / "raw.sqlite")
        began = time.perf_counter()
        raw.write_beats("u", t, ibi)
        peer = time.perf_counter() - began
        raw.close()
        store = SQLiteStore(folder / "store.sqlite")
        times = {}
        for label in ("first ingest", "same file again"):
            began = time.perf_counter()
            report = ingest_file(store, "u", IngestFiles(folder / "week.csv"))
            times[label] = time.perf_counter() - began
            assert report.beats_written == t.size, report
        store.close()
    print(f"== ingest of {t.size:,} beats ({args.days} days), SQLite; peer: write_beats alone {peer:.2f} s")
    for label, seconds in times.items():
        print(f"{label:<16} {seconds:6.2f} s   {seconds / peer:5.2f}x the peer   {t.size / seconds:,.0f} beats/s")
    print(f"again / first: {times['same file again'] / times['first ingest']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
