"""Self-describing model checkpoints: the one module that reads and writes them.

A checkpoint is a ``torch.save`` dict of plain values and tensors (loaded with ``weights_only=True``, so a
file cannot run code): everything needed to rebuild the model and to say what it is.

    format            "hrvcast-checkpoint"
    format_version    FORMAT_VERSION (bumped on any incompatible change)
    version           model version: "lstm-" + a hash of config and weights (the forecast cache key and
                      the ``model`` tag of written-back forecasts); same weights -> same version
    hrvcast_version   package version that wrote it
    created_at        ISO 8601 UTC
    config            ModelConfig as a dict
    features          input feature names, in order
    state_dict        weights and buffers (priors, scalers, conformal factors)
    priors            the same population statistics as plain numbers (for people and model cards)
    training          training-data summary (users, steps, sources) and the TrainConfig
    metrics           validation metrics (pinball loss, MAE, p10-p90 coverage before and after calibration)
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import torch

from model.errors import CheckpointError
from model.files import umask
from model.forecast.config import ModelConfig
from model.forecast.features import FEATURES
from model.forecast.lstm import BurnoutPredictor

FORMAT = "hrvcast-checkpoint"
FORMAT_VERSION = 2  # 2: clockless inputs, persistence, heart-rate amplitude, gate, per-horizon bands


@dataclass
class Checkpoint:
    model: BurnoutPredictor
    version: str
    training: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    created_at: str = ""
    hrvcast_version: str = ""

    @property
    def config(self) -> ModelConfig:
        return self.model.config


def model_version(model: BurnoutPredictor) -> str:
    """ "lstm-" + 12 hex digits of SHA-256 over the config and every weight and buffer."""
    digest = hashlib.sha256(repr(sorted(model.config.to_dict().items())).encode())
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return "lstm-" + digest.hexdigest()[:12]


def hrvcast_version() -> str:
    try:
        return metadata.version("hrvcast")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def make_checkpoint(model: BurnoutPredictor, training: dict | None = None, metrics: dict | None = None) -> Checkpoint:
    """A Checkpoint for a trained model, stamped now with its content version."""
    return Checkpoint(
        model=model,
        version=model_version(model),
        training=dict(training or {}),
        metrics=dict(metrics or {}),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        hrvcast_version=hrvcast_version(),
    )


def save(checkpoint: Checkpoint, path: str | os.PathLike) -> Path:
    """Write atomically (temporary file + rename): a failed save never leaves a half-written checkpoint."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = checkpoint.model
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "version": checkpoint.version,
        "hrvcast_version": checkpoint.hrvcast_version or hrvcast_version(),
        "created_at": checkpoint.created_at,
        "config": model.config.to_dict(),
        "features": list(model.config.features),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "priors": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(model.priors()).items()},
        "training": checkpoint.training,
        "metrics": checkpoint.metrics,
    }
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(payload, handle)
        os.chmod(tmp, 0o666 & ~umask())  # mkstemp makes it 0600: a server running as another user must read it
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


_LFS_POINTER = b"version https://git-lfs"  # what a clone without `git lfs pull` holds in place of a large file


def load(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint; :class:`CheckpointError` says what is wrong with a missing, corrupt or
    incompatible file and what to do."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(
            f"model checkpoint {str(path)!r} is a folder, not a checkpoint file: give the path of the .pt file "
            "(`make train` writes model/checkpoints/burnout-default.pt)"
        )
    if not path.is_file():
        raise CheckpointError(
            f"model checkpoint {str(path)!r} does not exist: run `make train` or set HRVCAST_MODEL "
            "to the path of a checkpoint written by `hrvcast train`"
        )
    data = path.read_bytes()
    if data.startswith(_LFS_POINTER):
        raise CheckpointError(
            f"model checkpoint {str(path)!r} is a Git LFS pointer, not the model: run `git lfs pull` in the "
            "checkout, or retrain with `hrvcast train`"
        )
    try:
        payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as err:  # bytes that are no checkpoint raise anything: KeyError, struct.error, EOFError, ...
        raise CheckpointError(
            f"model checkpoint {str(path)!r} is corrupt or not a torch checkpoint ({_first_line(err)}): "
            "retrain with `hrvcast train` or restore the file"
        ) from None
    return _from_payload(payload, str(path))


def _first_line(err: Exception) -> str:
    """The error's first line, at most 160 characters: torch's unpickling errors run to several lines of advice,
    one of which (load with ``weights_only=False``) would run any code the file holds."""
    text = str(err)
    if "WeightsUnpickler error:" in text:  # torch's own words on what it met come after its advice
        text = text.split("WeightsUnpickler error:", 1)[1]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    first = lines[0] if lines else type(err).__name__
    return first if len(first) <= 160 else first[:157] + "..."


def _from_payload(payload: object, where: str) -> Checkpoint:
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(
            f"{where!r} is not an hrvcast checkpoint (no format {FORMAT!r}): "
            "point HRVCAST_MODEL at a file written by `hrvcast train`"
        )
    if payload.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{where!r} has checkpoint format {payload.get('format_version')!r}, this hrvcast "
            f"({hrvcast_version()}) reads format {FORMAT_VERSION}: retrain with `hrvcast train`"
        )
    features = tuple(payload.get("features", ()))
    if features != FEATURES:
        raise CheckpointError(
            f"{where!r} was trained on features {list(features)}, this hrvcast builds "
            f"{list(FEATURES)}: retrain with `hrvcast train`"
        )
    try:
        config = ModelConfig.from_dict(payload["config"])
        model = BurnoutPredictor(config)
        state = dict(payload["state_dict"])
        # written before the newest-value blend existed: no blend, which is what such a model computed
        state.setdefault("newest_blend", torch.zeros(config.horizon))
        model.load_state_dict(state)
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise CheckpointError(
            f"{where!r} does not match this hrvcast's model ({err}): retrain with `hrvcast train`"
        ) from None
    if not payload.get("version"):
        raise CheckpointError(f"{where!r} carries no model version: retrain with `hrvcast train`")
    model.eval()
    return Checkpoint(
        model=model,
        version=str(payload["version"]),
        training=dict(payload.get("training", {})),
        metrics=dict(payload.get("metrics", {})),
        created_at=str(payload.get("created_at", "")),
        hrvcast_version=str(payload.get("hrvcast_version", "")),
    )
