"""``hrvcast export-coreml``: the trained model as a Core ML model for iPhone, Apple Watch and Mac (``make coreml``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from server.settings import Settings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export-coreml",
        help="export the model checkpoint to Core ML (.mlpackage, or .mlmodel for older devices)",
        description="Trace the checkpoint's BurnoutPredictor, convert it with coremltools, check the written files "
        "against PyTorch with a numpy evaluator and only then move them into place. Input x_raw [1, lookback, "
        "features] of raw features; outputs q_ln [1, horizon, 3], score [1], hourly_score [1, horizon]. "
        "See docs/coreml.md.",
    )
    parser.add_argument(
        "--checkpoint",
        type=Path,
        default=None,
        help="model checkpoint (default: HRVCAST_MODEL, else the shipped default model)",
    )
    parser.add_argument(
        "--format",
        choices=("mlprogram", "neuralnetwork"),
        default="mlprogram",
        help="mlprogram: .mlpackage, iOS 15 / macOS 12 / watchOS 8 and later (default); "
        "neuralnetwork: .mlmodel, iOS 14 / macOS 11 / watchOS 7 and later",
    )
    parser.add_argument(
        "--precision",
        choices=("fp32", "fp16"),
        default="fp32",
        help="fp32 (default, matches PyTorch to about 1e-6) or fp16 (fp16 weights, and fp16 compute in an ML "
        "Program; about 1e-3 relative error; smaller .mlmodel, not a smaller .mlpackage for this model)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output path (default: dist/BurnoutPredictor.mlpackage, or dist/BurnoutPredictor.mlmodel "
        "with --format neuralnetwork)",
    )
    parser.add_argument(
        "--no-verify",
        dest="verify",
        action="store_false",
        help="skip the numpy parity check of the written model (not recommended)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from model.coreml.export import ExportOptions, export
    from model.forecast.checkpoint import load

    options = ExportOptions(format=args.format, precision=args.precision, verify=args.verify)
    checkpoint = load(args.checkpoint if args.checkpoint is not None else settings.model)
    result = export(checkpoint, args.out, options)
    parity = "not checked (--no-verify)" if result.parity is None else result.parity.summary()
    print(
        f"wrote {result.path} ({result.format}, {result.precision}, {result.size_bytes / 1024:.0f} KiB) "
        f"for model {checkpoint.version}\n"
        f"  runs on {result.minimum_os} and later\n"
        f"  parity with PyTorch: {parity}\n"
        f"  convert {result.convert_s:.2f} s, write and verify {result.write_s:.2f} s",
        file=sys.stdout,
    )
    return 0
