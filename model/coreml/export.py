"""Export a trained checkpoint to Core ML, verified against PyTorch before it is put in place.

``BurnoutPredictor`` is traced with ``torch.jit.trace`` (``torch.export`` cannot handle ``nn.LSTM``) and
converted by coremltools into an ML Program (``.mlpackage``, iOS 15 / macOS 12 / watchOS 8 and later) or,
for older devices, a neural network (``.mlmodel``, iOS 14 / macOS 11 / watchOS 7 and later). The export
computes what :meth:`BurnoutPredictor.predict` computes, normalisation included, so an app feeds raw
features and needs no scaler:

    input   x_raw         [1, lookback, F]  float32, F = len(model.forecast.features.FEATURES), raw features
    output  q_ln          [1, horizon, 3]   ln RMSSD p10, p50, p90 of each forecast step (exp() -> ms)
    output  score         [1]               fatigue score 0-100 of the horizon; NaN while calibrating
    output  hourly_score  [1, horizon]      fatigue score 0-100 of each forecast step

The package is built in a temporary folder beside the target, read back from disk and evaluated with
numpy (:mod:`model.coreml.mil_eval`, :mod:`model.coreml.nn_eval`) on probe inputs, compared with PyTorch, and only
then renamed into place: a failed export never leaves a half-written or unverified package behind.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from model.coreml.meta import INPUT_NAME, OUTPUT_NAMES, describe
from model.coreml.parity import Parity, check_parity, probe_inputs
from model.coreml.tools import coremltools
from model.errors import ExportError
from model.forecast.checkpoint import Checkpoint

FORMATS: dict[str, str] = {"mlprogram": ".mlpackage", "neuralnetwork": ".mlmodel"}  # format -> file suffix
PRECISIONS = ("fp32", "fp16")
DEFAULT_DIR = Path("dist")
MODEL_NAME = "BurnoutPredictor"
# Lowest deployment target of each format: ML Programs need Core ML 5 (iOS 15); for neural networks
# coremltools picks the lowest specification that holds every layer (iOS 14 for an LSTM with broadcasting).
_MIN_TARGET = {"mlprogram": "iOS15", "neuralnetwork": None}
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportOptions:
    format: str = "mlprogram"  # "mlprogram" (.mlpackage) or "neuralnetwork" (.mlmodel)
    precision: str = "fp32"  # "fp32" or "fp16" (fp16 weights, and fp16 compute in an ML Program; ~1e-3 relative)
    verify: bool = True  # evaluate the written package with numpy and compare with PyTorch before renaming

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ExportError(f"format {self.format!r} is not supported: use one of {', '.join(FORMATS)}")
        if self.precision not in PRECISIONS:
            raise ExportError(f"precision {self.precision!r} is not supported: use one of {', '.join(PRECISIONS)}")


@dataclass(frozen=True)
class ExportResult:
    path: Path
    format: str
    precision: str
    specification_version: int  # Core ML specification version of the written model
    minimum_os: str  # first OS releases that run it
    size_bytes: int  # on disk, every file of the package
    convert_s: float  # trace + convert + metadata
    write_s: float  # save + verification + rename
    parity: Parity | None  # None when verification was switched off


def default_out(fmt: str) -> Path:
    """``dist/BurnoutPredictor.mlpackage`` (mlprogram) or ``dist/BurnoutPredictor.mlmodel`` (neuralnetwork)."""
    return DEFAULT_DIR / (MODEL_NAME + FORMATS[fmt])


class ExportView(nn.Module):
    """The exported graph: :meth:`BurnoutPredictor.predict` reduced to the outputs an app needs."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x_raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        out = self.model.predict(x_raw)  # x_raw [1, L, F]
        return out.q_ln, out.score, out.hourly_score  # [1, H, 3], [1], [1, H]


def reference_outputs(model: nn.Module, x_raw: np.ndarray) -> dict[str, np.ndarray]:
    """What PyTorch computes for ``x_raw [B, L, F]``, by output name."""
    with torch.inference_mode():
        outputs = ExportView(model.eval())(torch.from_numpy(np.asarray(x_raw, np.float32)))
    return {name: t.numpy() for name, t in zip(OUTPUT_NAMES, outputs, strict=True)}


def convert(checkpoint: Checkpoint, options: ExportOptions = ExportOptions()):
    """Trace and convert the checkpoint's model; returns the coremltools ``MLModel`` with metadata."""
    ct = coremltools()
    model = checkpoint.model.eval()
    config = checkpoint.config
    example = torch.from_numpy(probe_inputs(model, n_users=1))  # [1, L, F]
    try:
        with torch.no_grad(), _torchscript_is_deliberate():
            traced = torch.jit.trace(ExportView(model), example, check_trace=False)
    except (RuntimeError, TypeError, ValueError) as err:
        raise ExportError(
            f"tracing model {checkpoint.version} failed ({err}): the forward pass must be "
            "traceable (no data-dependent Python control flow)"
        ) from None
    kwargs = dict(
        inputs=[ct.TensorType(name=INPUT_NAME, shape=(1, config.lookback, len(config.features)), dtype=np.float32)],
        outputs=[ct.TensorType(name=name) for name in OUTPUT_NAMES],
        convert_to=options.format,
    )
    target = _MIN_TARGET[options.format]
    if target:
        kwargs["minimum_deployment_target"] = getattr(ct.target, target)
    if options.format == "mlprogram":
        kwargs["compute_precision"] = ct.precision.FLOAT16 if options.precision == "fp16" else ct.precision.FLOAT32
    try:
        # A clamp with only a lower bound has +FLT_MAX as its upper bound; in fp16 that constant becomes +inf,
        # which is still "no upper bound": numpy's overflow warning for that cast says nothing.
        # ct.convert leaves its temporary weights folder to the garbage collector, which cleans it (with a
        # ResourceWarning) as the call returns; the weights were copied into the package by then. Its prints
        # on stdout ("Const shift_cos was already added.") are kept off the command's report.
        printed = io.StringIO()
        with np.errstate(over="ignore"), _torchscript_is_deliberate(), warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message="Implicitly cleaning up <TemporaryDirectory", category=ResourceWarning
            )
            with contextlib.redirect_stdout(printed):
                mlmodel = ct.convert(traced, **kwargs)
        if printed.getvalue().strip():
            log.debug("coremltools printed: %s", printed.getvalue().strip())
    except (RuntimeError, ValueError, TypeError, NotImplementedError, AssertionError) as err:
        raise ExportError(
            f"coremltools could not convert model {checkpoint.version} to {options.format} "
            f"({type(err).__name__}: {err}); see docs/coreml.md for the supported ops"
        ) from None
    if options.format == "neuralnetwork" and options.precision == "fp16":
        mlmodel = _neuralnetwork_fp16(ct, mlmodel)
    spec_version = mlmodel.get_spec().specificationVersion
    describe(mlmodel, checkpoint, options.format, options.precision, minimum_os(spec_version))
    return mlmodel


@contextlib.contextmanager
def _torchscript_is_deliberate():
    """torch 2.13 marks torch.jit.* deprecated, but TorchScript is the supported way into coremltools for an
    LSTM: torch.export cannot export nn.LSTM, and coremltools converts TorchScript or ExportedProgram only.
    nn.LSTM's own input-size check turns a shape into a Python bool while tracing; the shape is fixed by the
    export, so that TracerWarning (from torch.nn.modules.rnn only) says nothing. Any other TracerWarning stays."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.\w+` is deprecated", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning, module=r"torch\.nn\.modules\.rnn")
        yield


def _neuralnetwork_fp16(ct, mlmodel):
    """Store a neural network's weights as fp16 (the format has no compute-precision switch)."""
    from coremltools.models.neural_network import quantization_utils

    with contextlib.redirect_stdout(io.StringIO()):  # it prints "Quantizing using linear quantization"
        return quantization_utils.quantize_weights(mlmodel, nbits=16)


def minimum_os(specification_version: int) -> str:
    """First OS releases that run a Core ML specification version (Apple's Core ML version table)."""
    table = {
        4: "iOS 13, macOS 10.15, watchOS 6, tvOS 13",
        5: "iOS 14, macOS 11, watchOS 7, tvOS 14",
        6: "iOS 15, macOS 12, watchOS 8, tvOS 15",
        7: "iOS 16, macOS 13, watchOS 9, tvOS 16",
        8: "iOS 17, macOS 14, watchOS 10, tvOS 17",
        9: "iOS 18, macOS 15, watchOS 11, tvOS 18",
    }
    return table.get(specification_version, f"Core ML specification {specification_version}")


def export(
    checkpoint: Checkpoint, out: str | os.PathLike | None = None, options: ExportOptions = ExportOptions()
) -> ExportResult:
    """Convert, write beside ``out``, verify the written files against PyTorch, then rename into place."""
    out = Path(out) if out is not None else default_out(options.format)
    if out.suffix != FORMATS[options.format]:
        raise ExportError(
            f"output {str(out)!r} does not end in {FORMATS[options.format]!r}, which Xcode needs for "
            f"--format {options.format}: use e.g. {str(default_out(options.format))!r}"
        )
    started = time.perf_counter()
    try:  # before the conversion (tens of seconds): an --out that cannot be written is refused at once
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    except OSError as err:
        raise ExportError(f"cannot write beside {str(out)!r} ({err}): choose another --out") from None
    try:
        mlmodel = convert(checkpoint, options)
        converted = time.perf_counter()
        built = staging / out.name
        try:
            mlmodel.save(str(built))
        except (OSError, RuntimeError) as err:
            raise ExportError(f"saving the Core ML model to {str(built)!r} failed ({err})") from None
        parity = None
        if options.verify:
            x_raw = probe_inputs(checkpoint.model)
            parity = check_parity(built, reference_outputs(checkpoint.model, x_raw), x_raw, options.precision)
            if not parity.ok:
                raise ExportError(
                    f"the exported model differs from PyTorch beyond tolerance ({parity.summary()}); "
                    "nothing was written: report this with the checkpoint version "
                    f"{checkpoint.version}"
                )
        size = _size_bytes(built)
        _replace(built, out, staging)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    spec_version = mlmodel.get_spec().specificationVersion
    return ExportResult(
        path=out,
        format=options.format,
        precision=options.precision,
        specification_version=spec_version,
        minimum_os=minimum_os(spec_version),
        size_bytes=size,
        convert_s=converted - started,
        write_s=time.perf_counter() - converted,
        parity=parity,
    )


def _replace(built: Path, out: Path, staging: Path) -> None:
    """Put ``built`` at ``out``; an old export is moved into ``staging`` first and restored on failure."""
    old = staging / ".previous"
    had_old = out.exists() or out.is_symlink()
    if had_old:
        os.replace(out, old)
    try:
        os.replace(built, out)
    except OSError as err:
        if had_old:
            os.replace(old, out)
        raise ExportError(
            f"could not move the new export into {str(out)!r} ({err}); the previous one is kept"
        ) from None
    # ``old`` goes with ``staging``


def _size_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
