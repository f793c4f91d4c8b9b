"""numpy semantics of the MIL ops that hrvcast's Core ML exports use (see :mod:`model.coreml.mil_eval`).

Each function takes the op's named inputs (:class:`Args`) and returns its output(s). Floats are computed
in float32 (fp16 inputs are widened first, as the Neural Engine and GPU accumulate); the caller rounds
each result to the dtype that the program declares. Semantics follow the op definitions in
``coremltools/converters/mil/mil/ops/defs/iOS15`` (and the later opsets, which keep them for these ops).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from model.errors import ExportError


class Args(dict):
    """An op's inputs by name; floats widened to float32, optional inputs read with defaults."""

    def __init__(self, values: dict) -> None:
        super().__init__({k: _widen(v) for k, v in values.items()})

    def __getattr__(self, name: str):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def opt(self, name: str, default):
        return self.get(name, default)


def _widen(value):
    if isinstance(value, list):
        return [_widen(v) for v in value]
    if isinstance(value, np.ndarray) and value.dtype == np.float16:
        return value.astype(np.float32)
    return value


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # no overflow for large |x|, unlike 1 / (1 + exp(-x))


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x).astype(np.asarray(x).dtype)


ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "sigmoid": _sigmoid,
    "tanh": np.tanh,
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0),
    "hard_sigmoid": lambda x: np.clip(0.2 * x + 0.5, 0.0, 1.0),  # MIL default alpha 0.2, beta 0.5
    "scaled_tanh": np.tanh,  # MIL default alpha 1, beta 1
}


def _activation(name: str) -> Callable[[np.ndarray], np.ndarray]:
    key = str(name).lower()
    if key not in ACTIVATIONS:
        raise ExportError(
            f"LSTM activation {name!r} is not implemented in model.coreml.mil_ops: use one of {sorted(ACTIVATIONS)}"
        )
    return ACTIVATIONS[key]


def lstm(a: Args):
    """x [S, B, I] -> (output [S or 1, B, H], h_last [B, H], c_last [B, H]); gates ordered i, f, o, z."""
    direction = str(a.opt("direction", "forward"))
    if direction not in ("forward", "reverse"):
        raise ExportError(f"LSTM direction {direction!r} is not implemented in model.coreml.mil_ops (forward, reverse)")
    x = a.x  # [S, B, I]
    w_ih, w_hh = a.weight_ih, a.weight_hh  # [4H, I], [4H, H]
    hidden = w_hh.shape[1]
    bias = a.opt("bias", np.zeros(4 * hidden, np.float32))  # [4H]
    peephole = a.opt("peephole", np.zeros(3 * hidden, np.float32))  # [3H] i, f, o
    recurrent = _activation(a.opt("recurrent_activation", "sigmoid"))
    cell_act = _activation(a.opt("cell_activation", "tanh"))
    out_act = _activation(a.opt("activation", "tanh"))
    clip = a.opt("clip", None)
    h, c = a.initial_h.copy(), a.initial_c.copy()  # [B, H] each
    steps = range(x.shape[0]) if direction == "forward" else range(x.shape[0] - 1, -1, -1)
    outputs = []
    for t in steps:
        gates = x[t] @ w_ih.T + h @ w_hh.T + bias  # [B, 4H]
        gi, gf, go, gz = np.split(gates, 4, axis=-1)  # [B, H] each
        i = recurrent(gi + peephole[:hidden] * c)
        f = recurrent(gf + peephole[hidden : 2 * hidden] * c)
        z = cell_act(gz)
        if clip is not None:
            z = np.clip(z, -clip, clip)
        c = f * c + i * z
        o = recurrent(go + peephole[2 * hidden :] * c)
        h = o * out_act(c)
        outputs.append(h)
    if direction == "reverse":
        outputs.reverse()
    output = np.stack(outputs) if a.opt("output_sequence", False) else h[None]  # [S or 1, B, H]
    return output, h, c


def slice_by_index(a: Args) -> np.ndarray:
    x = a.x
    rank = x.ndim
    begin, end = np.asarray(a.begin).tolist(), np.asarray(a.end).tolist()
    stride = np.asarray(a.opt("stride", [1] * rank)).tolist()
    begin_mask = np.asarray(a.opt("begin_mask", [False] * rank)).tolist()
    end_mask = np.asarray(a.opt("end_mask", [False] * rank)).tolist()
    squeeze_mask = np.asarray(a.opt("squeeze_mask", [False] * rank)).tolist()
    index = []
    for d in range(rank):
        if squeeze_mask[d]:
            index.append(int(begin[d]))
            continue
        start = None if begin_mask[d] else int(begin[d])
        stop = None if end_mask[d] else int(end[d])
        index.append(slice(start, stop, int(stride[d])))
    return np.asarray(x[tuple(index)])


def _expand_dims(a: Args) -> np.ndarray:
    axes = [int(v) for v in np.atleast_1d(a.axes)]
    rank_out = a.x.ndim + len(axes)
    return np.expand_dims(a.x, tuple(ax % rank_out for ax in axes))


def _squeeze(a: Args) -> np.ndarray:
    axes = a.opt("axes", None)
    return np.squeeze(a.x) if axes is None else np.squeeze(a.x, tuple(int(v) for v in np.atleast_1d(axes)))


def _reshape(a: Args) -> np.ndarray:
    shape = [int(v) for v in np.atleast_1d(a.shape)]
    shape = [a.x.shape[i] if s == 0 else s for i, s in enumerate(shape)]  # 0 keeps that dimension
    return a.x.reshape(shape)


def _reduce(fn) -> Callable[[Args], np.ndarray]:
    def reduce(a: Args) -> np.ndarray:
        axes = a.opt("axes", None)
        axes = None if axes is None else tuple(int(v) for v in np.atleast_1d(axes))
        return fn(a.x, axis=axes, keepdims=bool(a.opt("keep_dims", False)))

    return reduce


MIL_DTYPES = {
    "fp16": np.float16,
    "fp32": np.float32,
    "fp64": np.float64,
    "bool": np.bool_,
    "int8": np.int8,
    "int16": np.int16,
    "int32": np.int32,
    "int64": np.int64,
    "uint8": np.uint8,
    "uint16": np.uint16,
}


def _cast(a: Args) -> np.ndarray:
    if str(a.dtype) not in MIL_DTYPES:
        raise ExportError(
            f"cast to {a.dtype!r} is not implemented in model.coreml.mil_ops: use one of {sorted(MIL_DTYPES)}"
        )
    return np.asarray(a.x).astype(MIL_DTYPES[str(a.dtype)])


def _values(a: Args) -> list:
    return a["values"] if isinstance(a["values"], list) else [a["values"]]


def _concat(a: Args) -> np.ndarray:
    values, axis = _values(a), int(a.axis)
    if a.opt("interleave", False):
        raise ExportError("concat with interleave=True is not implemented in model.coreml.mil_ops")
    return np.concatenate(values, axis=axis)


def _linear(a: Args) -> np.ndarray:
    out = a.x @ a.weight.T  # [..., D_out]
    return out + a.bias if "bias" in a else out


def _matmul(a: Args) -> np.ndarray:
    x = np.swapaxes(a.x, -1, -2) if a.opt("transpose_x", False) else a.x
    y = np.swapaxes(a.y, -1, -2) if a.opt("transpose_y", False) else a.y
    return x @ y


OPS: dict[str, Callable[[Args], object]] = {
    "add": lambda a: a.x + a.y,
    "sub": lambda a: a.x - a.y,
    "mul": lambda a: a.x * a.y,
    "real_div": lambda a: a.x / a.y,
    "pow": lambda a: np.power(a.x, a.y),
    "maximum": lambda a: np.maximum(a.x, a.y),
    "minimum": lambda a: np.minimum(a.x, a.y),
    "less": lambda a: a.x < a.y,
    "less_equal": lambda a: a.x <= a.y,
    "greater": lambda a: a.x > a.y,
    "greater_equal": lambda a: a.x >= a.y,
    "equal": lambda a: a.x == a.y,
    "not_equal": lambda a: a.x != a.y,
    "logical_and": lambda a: np.logical_and(a.x, a.y),
    "logical_or": lambda a: np.logical_or(a.x, a.y),
    "logical_not": lambda a: np.logical_not(a.x),
    "sqrt": lambda a: np.sqrt(a.x),
    "rsqrt": lambda a: 1.0 / np.sqrt(a.x + a.opt("epsilon", 1e-12)),
    "inverse": lambda a: 1.0 / (a.x + a.opt("epsilon", 1e-4)),
    "log": lambda a: np.log(a.x + a.opt("epsilon", 1e-45)),
    "exp": lambda a: np.exp(a.x),
    "abs": lambda a: np.abs(a.x),
    "square": lambda a: a.x * a.x,
    "tanh": lambda a: np.tanh(a.x),
    "sigmoid": lambda a: _sigmoid(a.x),
    "softplus": lambda a: _softplus(a.x),
    "relu": lambda a: np.maximum(a.x, 0),
    "clip": lambda a: np.minimum(np.maximum(a.x, a.alpha), a.beta),
    "cast": _cast,
    "identity": lambda a: a.x,
    "fill_like": lambda a: np.full(np.shape(a.ref_tensor), a.opt("value", 0.0)),
    "fill": lambda a: np.full([int(v) for v in np.atleast_1d(a.shape)], a.opt("value", 0.0)),
    "select": lambda a: np.where(a.cond, a.a, a.b),
    "slice_by_index": slice_by_index,
    "stack": lambda a: np.stack(_values(a), axis=int(a.axis)),
    "concat": _concat,
    "expand_dims": _expand_dims,
    "squeeze": _squeeze,
    "reshape": _reshape,
    "transpose": lambda a: np.transpose(a.x, [int(v) for v in a.perm]),
    "reduce_sum": _reduce(np.sum),
    "reduce_mean": _reduce(np.mean),
    "reduce_max": _reduce(np.max),
    "reduce_min": _reduce(np.min),
    "linear": _linear,
    "matmul": _matmul,
    "lstm": lstm,
}
