"""Run a saved ML Program (``.mlpackage``) with numpy, to check an export on machines without Core ML.

coremltools' ``MLModel.predict`` needs the Core ML framework, which exists only on Apple systems. This
module reads back what was written to disk instead: the program protobuf of the package and its weight
file, and evaluates the ops in order with numpy. Every value is rounded to the dtype the program declares
for it, so an fp16 program is evaluated in fp16 storage (as on the Neural Engine and the GPU) and an fp32
one in fp32.

Written by hand because no library does this: coremltools converts into MIL but ships no MIL interpreter
for Linux, and the MIL program cannot be turned back into PyTorch or ONNX. The op semantics follow the op
definitions in ``coremltools/converters/mil/mil/ops/defs/iOS15..iOS18``. Only the ops that our exports use
(plus close relatives) are implemented; an unknown op raises :class:`ExportError` naming it, so a model
change can never be "verified" by skipping work.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.coreml.mil_ops import OPS, Args
from model.coreml.tools import coremltools
from model.errors import ExportError

_DTYPES = {  # MIL proto DataType name -> numpy dtype
    "BOOL": np.bool_,
    "FLOAT16": np.float16,
    "FLOAT32": np.float32,
    "FLOAT64": np.float64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "STRING": np.str_,
}


@dataclass(frozen=True)
class MilProgram:
    """The ``main`` function of a saved package: its ops (protobuf messages) and where its weights are."""

    path: Path
    opset: str  # e.g. "CoreML5" (iOS 15), "CoreML6" (iOS 16)
    inputs: dict[str, tuple[np.dtype, tuple[int, ...]]]  # name -> (dtype, shape)
    outputs: tuple[str, ...]
    operations: tuple  # MILSpec.Operation messages, in program order
    weights_dir: Path


def load_program(path: str | os.PathLike) -> MilProgram:
    """Read the program of a saved ``.mlpackage`` back from disk (nothing is compiled or run)."""
    ct = coremltools()
    path = Path(path)
    if not path.exists():
        raise ExportError(f"Core ML package {str(path)!r} does not exist: run `hrvcast export-coreml` first")
    mlmodel = ct.models.MLModel(str(path), skip_model_load=True)  # reads the saved spec; needs no Core ML
    spec = mlmodel.get_spec()
    if spec.WhichOneof("Type") != "mlProgram":
        raise ExportError(
            f"{str(path)!r} holds a {spec.WhichOneof('Type')!r} model, not an ML Program: "
            "use model.coreml.nn_eval for --format neuralnetwork exports"
        )
    function = spec.mlProgram.functions["main"]
    block = function.block_specializations[function.opset]
    inputs = {}
    for named in function.inputs:
        tensor = named.type.tensorType
        shape = tuple(int(d.constant.size) for d in tensor.dimensions)
        inputs[named.name] = (np.dtype(_DTYPES[_dtype_name(tensor.dataType)]), shape)
    return MilProgram(
        path=path,
        opset=function.opset,
        inputs=inputs,
        outputs=tuple(block.outputs),
        operations=tuple(block.operations),
        weights_dir=Path(mlmodel.weights_dir),
    )


def run_program(program: MilProgram, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Evaluate ``program`` on ``feeds`` (input name -> array); returns every program output by name."""
    env: dict[str, object] = {}
    for name, (dtype, shape) in program.inputs.items():
        if name not in feeds:
            raise ExportError(f"input {name!r} missing: the program takes {sorted(program.inputs)}")
        value = np.asarray(feeds[name])
        if value.shape != shape:
            raise ExportError(f"input {name!r} has shape {value.shape}, the program takes {shape}")
        env[name] = value.astype(dtype)
    blobs = _BlobCache(program.weights_dir)
    with np.errstate(all="ignore"):  # IEEE results (inf, NaN) are what the device computes too; the caller compares
        for op in program.operations:
            _run_op(op, env, blobs)
    return {name: np.asarray(env[name]) for name in program.outputs}


def _run_op(op, env: dict, blobs: _BlobCache) -> None:
    """Evaluate one op and store its outputs in ``env``, rounded to their declared dtypes."""
    if op.type == "const":
        env[op.outputs[0].name] = _value(op.attributes["val"], blobs)
        return
    if op.type not in OPS:
        raise ExportError(
            f"op {op.type!r} ({op.outputs[0].name}) is not implemented in model.coreml.mil_eval: add it "
            f"there (implemented: {', '.join(sorted(OPS))})"
        )
    args = Args({key: _argument(arg, env, blobs) for key, arg in op.inputs.items()})
    results = OPS[op.type](args)
    results = results if isinstance(results, tuple) else (results,)
    for named, result in zip(op.outputs, results, strict=True):
        env[named.name] = _as_declared(result, named.type)


def _dtype_name(code: int) -> str:
    from coremltools.proto import MIL_pb2

    return MIL_pb2.DataType.Name(code)


class _BlobCache:
    """Weight file readers, one per file (coremltools' own reader of the MIL blob storage format)."""

    def __init__(self, weights_dir: Path) -> None:
        self.weights_dir = weights_dir
        self.readers: dict[str, object] = {}

    def read(self, file_name: str, offset: int, dtype_name: str) -> np.ndarray:
        from coremltools.libmilstoragepython import _BlobStorageReader  # the reference reader of weight.bin

        path = str(self.weights_dir / file_name.split("/")[-1])
        reader = self.readers.setdefault(path, _BlobStorageReader(path))
        if dtype_name == "FLOAT32":
            return np.asarray(reader.read_float_data(offset), np.float32)
        if dtype_name == "FLOAT16":
            return np.frombuffer(np.asarray(reader.read_fp16_data(offset)).tobytes(), np.float16)
        if dtype_name == "INT32":
            return np.asarray(reader.read_int32_data(offset), np.int32)
        raise ExportError(f"weights of dtype {dtype_name} are not supported by model.coreml.mil_eval")


def _value(value, blobs: _BlobCache) -> object:
    """A MILSpec.Value as numpy (tensors), str or list."""
    tensor_type = value.type.tensorType
    dtype_name = _dtype_name(tensor_type.dataType)
    shape = tuple(int(d.constant.size) for d in tensor_type.dimensions)
    kind = value.WhichOneof("value")
    if kind == "blobFileValue":
        data = blobs.read(value.blobFileValue.fileName, value.blobFileValue.offset, dtype_name)
        return data.reshape(shape)
    immediate = value.immediateValue
    if immediate.WhichOneof("value") == "list":
        return [_value(item, blobs) for item in immediate.list.values]
    tensor = immediate.tensor
    which = tensor.WhichOneof("value")
    if which == "strings":
        items = list(tensor.strings.values)
        return items[0] if not shape else np.array(items).reshape(shape)
    if which == "bytes":  # fp16 and small int types are stored as raw bytes
        data = np.frombuffer(tensor.bytes.values, _DTYPES[dtype_name])
    else:
        data = np.array(list(getattr(tensor, which).values), dtype=_DTYPES[dtype_name])
    return data.reshape(shape)


def _argument(argument, env: dict, blobs: _BlobCache) -> object:
    """An op input: one value, or a list of values for variadic inputs (``stack``, ``concat``)."""
    values = []
    for binding in argument.arguments:
        if binding.WhichOneof("binding") == "name":
            values.append(env[binding.name])
        else:
            values.append(_value(binding.value, blobs))
    return values[0] if len(values) == 1 else values


def _as_declared(result: object, value_type) -> object:
    """Round a result to the dtype the program declares for it (fp16 programs stay in fp16)."""
    if value_type.WhichOneof("type") != "tensorType":
        return result
    dtype = _DTYPES[_dtype_name(value_type.tensorType.dataType)]
    with np.errstate(over="ignore"):  # an fp16 overflow becomes inf, as it does on the device
        return np.asarray(result).astype(dtype)
