"""Core ML export benchmark: export time and package size of each format and precision, beside
``torch.jit.save`` of the same traced model, and the numpy parity check's share of the export.

    .venv/bin/python bench/coreml.py [--checkpoint PATH] [--repeat 3]

Uses the default checkpoint (HRVCAST_MODEL or model/checkpoints/burnout-default.pt) when it exists, else an
untrained default-size BurnoutPredictor (export time and size depend on the architecture, not on training).
Bounded: ``--repeat`` exports of each of 4 variants and ``--repeat`` TorchScript saves (best time taken).
Every figure is printed beside its peer from the same run: time as a ratio to torch.jit.save, size as a
ratio to the mlprogram fp32 package.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from model.coreml.export import ExportOptions, ExportView, export
from model.coreml.parity import probe_inputs
from model.errors import CheckpointError
from model.forecast import checkpoint as ckpt
from model.forecast.config import ModelConfig
from model.forecast.lstm import BurnoutPredictor
from server.settings import Settings

VARIANTS = (("mlprogram", "fp32"), ("mlprogram", "fp16"), ("neuralnetwork", "fp32"), ("neuralnetwork", "fp16"))


def load_checkpoint(path: str | None) -> tuple[ckpt.Checkpoint, str]:
    try:
        return ckpt.load(path or Settings.from_env().model), "default checkpoint"
    except CheckpointError:
        if path:
            raise
        torch.manual_seed(0)
        return ckpt.make_checkpoint(BurnoutPredictor(ModelConfig()).eval()), "untrained default-size model"


def torchscript_save(checkpoint: ckpt.Checkpoint, folder: Path) -> tuple[float, int]:
    """Seconds to trace and torch.jit.save the same graph, and the file size: the peer of the export."""
    example = torch.from_numpy(probe_inputs(checkpoint.model, n_users=1))
    started = time.perf_counter()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript deprecation and nn.LSTM tracer notes: see model.coreml.export
        traced = torch.jit.trace(ExportView(checkpoint.model), example, check_trace=False)
        torch.jit.save(traced, str(folder / "model.pt"))
    return time.perf_counter() - started, (folder / "model.pt").stat().st_size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    logging.disable(logging.WARNING)  # coremltools' import notes
    checkpoint, what = load_checkpoint(args.checkpoint)
    config = checkpoint.config
    print(
        f"model {checkpoint.version} ({what}): lookback {config.lookback}, hidden {config.hidden}, "
        f"horizon {config.horizon}; {args.repeat} exports per variant, best time; torch {torch.__version__}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ts_s, ts_bytes = min(torchscript_save(checkpoint, folder) for _ in range(args.repeat))
        print(f"{'torch.jit.save (peer)':<24} {ts_s:7.2f} s  (1.00x)  {ts_bytes / 1024:8.1f} KiB")
        base_bytes = None
        for fmt, precision in VARIANTS:
            best = None
            for i in range(args.repeat):
                suffix = ".mlpackage" if fmt == "mlprogram" else ".mlmodel"
                result = export(checkpoint, folder / f"{fmt}-{precision}-{i}{suffix}", ExportOptions(fmt, precision))
                if best is None or result.convert_s + result.write_s < best.convert_s + best.write_s:
                    best = result
            total = best.convert_s + best.write_s
            base_bytes = base_bytes or best.size_bytes
            print(
                f"{fmt + ' ' + precision:<24} {total:7.2f} s  ({total / ts_s:4.2f}x)  "
                f"{best.size_bytes / 1024:8.1f} KiB ({best.size_bytes / base_bytes:4.2f}x mlprogram fp32)  "
                f"convert {best.convert_s:.2f} s, save+verify {best.write_s:.2f} s, "
                f"max abs diff {best.parity.max_abs:.2g}, {best.minimum_os.split(',')[0]}+"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
