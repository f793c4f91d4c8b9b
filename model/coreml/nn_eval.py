"""Run a saved Core ML neural network (``.mlmodel``, ``--format neuralnetwork``) with numpy.

The twin of :mod:`model.coreml.mil_eval` for the older format: the layers of the saved specification are
evaluated in order, in float32 (Core ML dequantises fp16 weights and runs neural networks in float32 on
the CPU). Written by hand for the same reason: coremltools has no neural-network interpreter outside
macOS. Layer semantics follow ``NeuralNetwork.proto`` of the Core ML specification. Only the layers our
exports use are implemented; any other raises :class:`ExportError` naming it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.coreml.mil_ops import ACTIVATIONS
from model.coreml.tools import coremltools
from model.errors import ExportError


@dataclass(frozen=True)
class Network:
    path: Path
    inputs: dict[str, tuple[int, ...]]  # name -> shape
    outputs: tuple[str, ...]
    layers: tuple  # NeuralNetworkLayer messages, in order


def load_network(path: str | os.PathLike) -> Network:
    """Read the layers of a saved ``.mlmodel`` back from disk."""
    ct = coremltools()
    path = Path(path)
    if not path.is_file():
        raise ExportError(
            f"Core ML model {str(path)!r} does not exist: run `hrvcast export-coreml --format neuralnetwork` first"
        )
    spec = ct.utils.load_spec(str(path))
    if spec.WhichOneof("Type") != "neuralNetwork":
        raise ExportError(f"{str(path)!r} holds a {spec.WhichOneof('Type')!r} model, not a neural network")
    inputs = {i.name: tuple(int(s) for s in i.type.multiArrayType.shape) for i in spec.description.input}
    return Network(
        path=path,
        inputs=inputs,
        outputs=tuple(o.name for o in spec.description.output),
        layers=tuple(spec.neuralNetwork.layers),
    )


def run_network(network: Network, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    env: dict[str, np.ndarray] = {}
    for name, shape in network.inputs.items():
        value = np.asarray(feeds[name], np.float32)
        if value.shape != shape:
            raise ExportError(f"input {name!r} has shape {value.shape}, the model takes {shape}")
        env[name] = value
    with np.errstate(all="ignore"):  # IEEE results (inf, NaN) are what the device computes too; the caller compares
        for layer in network.layers:
            kind = layer.WhichOneof("layer")
            if kind not in _LAYERS:
                raise ExportError(
                    f"layer {kind!r} ({layer.name}) is not implemented in model.coreml.nn_eval: add it there"
                )
            results = _LAYERS[kind](getattr(layer, kind), [env[i] for i in layer.input])
            results = results if isinstance(results, tuple) else (results,)
            for out, value in zip(layer.output, results, strict=False):
                value = np.asarray(value)
                env[out] = value if value.dtype == np.bool_ else value.astype(np.float32)
    return {name: env[name] for name in network.outputs}


def weights(params, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """A WeightParams message as float32 (fp16 weights are stored as raw little-endian bytes)."""
    if len(params.floatValue):
        data = np.asarray(params.floatValue, np.float32)
    elif len(params.float16Value):
        data = np.frombuffer(params.float16Value, np.float16).astype(np.float32)
    elif not params.HasField("quantization") and not len(params.rawValue):
        data = np.zeros(0, np.float32)  # an empty constant (e.g. no Fourier harmonics at daily resolution)
    else:
        raise ExportError("quantised neural-network weights are not implemented in model.coreml.nn_eval")
    return data if shape is None else data.reshape(shape)


def _activation(params) -> callable:
    kind = params.WhichOneof("NonlinearityType")
    if kind == "linear":
        return lambda x: params.linear.alpha * x + params.linear.beta
    if kind == "softplus":
        return lambda x: np.logaddexp(0.0, x)
    if kind == "ReLU":
        return ACTIVATIONS["relu"]
    if kind in ("sigmoid", "tanh"):
        return ACTIVATIONS[kind]
    raise ExportError(f"activation {kind!r} is not implemented in model.coreml.nn_eval")


def _unary(p, xs):
    from coremltools.proto.NeuralNetwork_pb2 import UnaryFunctionLayerParams as U

    x = p.scale * xs[0] + p.shift if (p.scale or p.shift) else xs[0]  # scale defaults to 1 when unset (0)
    fns = {
        U.SQRT: np.sqrt,
        U.RSQRT: lambda v: 1.0 / np.sqrt(v + p.epsilon),
        U.INVERSE: lambda v: 1.0 / (v + p.epsilon),
        U.POWER: lambda v: np.power(v, p.alpha),
        U.EXP: np.exp,
        U.LOG: lambda v: np.log(v + p.epsilon),
        U.ABS: np.abs,
        U.THRESHOLD: lambda v: np.maximum(v, p.alpha),
    }
    return fns[p.type](x)


def _slice_static(p, xs):
    x = xs[0]
    index = []
    for d in range(x.ndim):
        if p.squeezeMasks and p.squeezeMasks[d]:
            index.append(int(p.beginIds[d]))
            continue
        start = None if p.beginMasks[d] else int(p.beginIds[d])
        stop = None if p.endMasks[d] else int(p.endIds[d])
        index.append(slice(start, stop, int(p.strides[d]) if p.strides else 1))
    return x[tuple(index)]


def _slice(p, xs):
    """The rank-5-era slice: one of the last three axes (CHANNEL -3, HEIGHT -2, WIDTH -1), end exclusive."""
    axis = {0: -3, 1: -2, 2: -1}[p.axis]
    index = [slice(None)] * xs[0].ndim
    index[axis] = slice(int(p.startIndex), int(p.endIndex), int(p.stride) or 1)
    return xs[0][tuple(index)]


def _reduce(fn):
    def reduce(p, xs):
        axes = None if p.reduceAll else tuple(int(a) for a in p.axes)
        return fn(xs[0], axis=axes, keepdims=bool(p.keepDims))

    return reduce


def _compare(op):
    return lambda p, xs: op(xs[0], xs[1]) if len(xs) == 2 else op(xs[0], p.alpha)


def _inner_product(p, xs):
    """x [..., C_in] (or the rank-5 layout [..., C_in, 1, 1]) -> [..., C_out] (same layout)."""
    w = weights(p.weights, (p.outputChannels, p.inputChannels))  # [C_out, C_in]
    bias = weights(p.bias) if p.hasBias else 0.0
    x = xs[0]
    if x.ndim >= 3 and x.shape[-2:] == (1, 1) and x.shape[-3] == p.inputChannels:
        return (x[..., 0, 0] @ w.T + bias)[..., None, None]
    return x @ w.T + bias


def _lstm(p, xs):
    """Core ML uniDirectionalLSTM: x [S, B, C, 1, 1], h0/c0 [1, B, H, 1, 1]; gates i, f, block input z, o."""
    hidden, size = p.outputVectorSize, p.inputVectorSize
    w = p.weightParams
    w_x = [
        weights(m, (hidden, size))
        for m in (w.inputGateWeightMatrix, w.forgetGateWeightMatrix, w.blockInputWeightMatrix, w.outputGateWeightMatrix)
    ]
    w_h = [
        weights(m, (hidden, hidden))
        for m in (
            w.inputGateRecursionMatrix,
            w.forgetGateRecursionMatrix,
            w.blockInputRecursionMatrix,
            w.outputGateRecursionMatrix,
        )
    ]
    bias = (
        [
            weights(b)
            for b in (w.inputGateBiasVector, w.forgetGateBiasVector, w.blockInputBiasVector, w.outputGateBiasVector)
        ]
        if p.params.hasBiasVectors
        else [0.0] * 4
    )
    if p.params.forgetBias:
        bias[1] = bias[1] + 1.0
    if p.params.hasPeepholeVectors or p.params.coupledInputAndForgetGate:
        raise ExportError("LSTM peepholes and coupled gates are not implemented in model.coreml.nn_eval")
    gate, cell_act, out_act = (_activation(a) for a in p.activations)
    x = xs[0].reshape(xs[0].shape[0], xs[0].shape[1], size)  # [S, B, C]
    batch = x.shape[1]
    h = xs[1].reshape(batch, hidden) if len(xs) > 1 else np.zeros((batch, hidden), np.float32)
    c = xs[2].reshape(batch, hidden) if len(xs) > 2 else np.zeros((batch, hidden), np.float32)
    clip = p.params.cellClipThreshold or None
    order = range(x.shape[0] - 1, -1, -1) if p.reverseInput else range(x.shape[0])
    outputs = []
    for t in order:
        pre = [x[t] @ w_x[k].T + h @ w_h[k].T + bias[k] for k in range(4)]  # [B, H] each
        i, f, z, o = gate(pre[0]), gate(pre[1]), cell_act(pre[2]), gate(pre[3])
        c = f * c + i * z
        if clip:
            c = np.clip(c, -clip, clip)
        h = o * out_act(c)
        outputs.append(h)
    y = np.stack(outputs) if p.params.sequenceOutput else h[None]  # [S or 1, B, H]
    return y[..., None, None], h[None, ..., None, None], c[None, ..., None, None]


def _stack(p, xs):
    return np.stack(xs, axis=p.axis)


def _expand_dims(p, xs):
    rank_out = xs[0].ndim + len(p.axes)
    return np.expand_dims(xs[0], tuple(int(a) % rank_out for a in p.axes))


def _squeeze(p, xs):
    return np.squeeze(xs[0]) if p.squeezeAll else np.squeeze(xs[0], tuple(int(a) for a in p.axes))


_LAYERS = {
    "add": lambda p, xs: sum(xs[1:], xs[0]) if len(xs) > 1 else xs[0] + p.alpha,
    "multiply": lambda p, xs: np.prod(np.broadcast_arrays(*xs), axis=0) if len(xs) > 1 else xs[0] * p.alpha,
    "addBroadcastable": lambda p, xs: xs[0] + xs[1],
    "subtractBroadcastable": lambda p, xs: xs[0] - xs[1],
    "multiplyBroadcastable": lambda p, xs: xs[0] * xs[1],
    "divideBroadcastable": lambda p, xs: xs[0] / xs[1],
    "activation": lambda p, xs: _activation(p)(xs[0]),
    "unary": _unary,
    "clip": lambda p, xs: np.clip(xs[0], p.minVal, p.maxVal),
    "loadConstantND": lambda p, xs: weights(p.data, tuple(int(s) for s in p.shape)),
    "sliceStatic": _slice_static,
    "slice": _slice,
    "stack": _stack,
    "concatND": lambda p, xs: np.concatenate(xs, axis=p.axis),
    "expandDims": _expand_dims,
    "squeeze": _squeeze,
    "transpose": lambda p, xs: np.transpose(xs[0], [int(a) for a in p.axes]),
    "reshapeStatic": lambda p, xs: xs[0].reshape([int(s) for s in p.targetShape]),
    "reduceSum": _reduce(np.sum),
    "reduceMean": _reduce(np.mean),
    "lessThan": _compare(np.less),
    "greaterEqual": _compare(np.greater_equal),
    "greaterThan": _compare(np.greater),
    "lessEqual": _compare(np.less_equal),
    "whereBroadcastable": lambda p, xs: np.where(xs[0].astype(bool), xs[1], xs[2]),
    "innerProduct": _inner_product,
    "uniDirectionalLSTM": _lstm,
}
