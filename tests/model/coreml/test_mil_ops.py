"""The numpy MIL ops against independent references (torch), for the ops where a wrong convention hides."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model.coreml.mil_ops import OPS, Args


@pytest.mark.parametrize("direction", ["forward", "reverse"])
def test_lstm_matches_torch(direction):
    """MIL orders gates i, f, o, z (cell) and sums the two biases; torch orders them i, f, g(cell), o."""
    torch.manual_seed(0)
    torch.set_num_threads(1)
    lstm = torch.nn.LSTM(5, 4)  # sequence-first, like MIL
    x = torch.randn(7, 2, 5)  # [S, B, I]
    h0, c0 = torch.randn(1, 2, 4), torch.randn(1, 2, 4)
    if direction == "reverse":
        want, (h_n, c_n) = lstm(torch.flip(x, [0]), (h0, c0))
        want = torch.flip(want, [0])
    else:
        want, (h_n, c_n) = lstm(x, (h0, c0))

    def mil_order(w):  # torch [i, f, g, o] -> MIL [i, f, o, z]
        i, f, g, o = np.split(w.detach().numpy(), 4)
        return np.concatenate([i, f, o, g])

    args = Args(
        {
            "x": x.numpy(),
            "initial_h": h0[0].numpy(),
            "initial_c": c0[0].numpy(),
            "weight_ih": mil_order(lstm.weight_ih_l0),
            "weight_hh": mil_order(lstm.weight_hh_l0),
            "bias": mil_order(lstm.bias_ih_l0 + lstm.bias_hh_l0),
            "direction": direction,
            "output_sequence": True,
        }
    )
    out, h, c = OPS["lstm"](args)
    np.testing.assert_allclose(out, want.detach().numpy(), atol=1e-6)
    np.testing.assert_allclose(h, h_n[0].detach().numpy(), atol=1e-6)
    np.testing.assert_allclose(c, c_n[0].detach().numpy(), atol=1e-6)


def test_slice_by_index_masks_follow_numpy_indexing():
    x = np.arange(2 * 5 * 3).reshape(2, 5, 3)
    args = Args(
        {
            "x": x,
            "begin": np.array([0, 1, 2]),
            "end": np.array([0, 4, 0]),
            "stride": np.array([1, 2, 1]),
            "begin_mask": np.array([True, False, False]),
            "end_mask": np.array([True, False, False]),
            "squeeze_mask": np.array([False, False, True]),
        }
    )
    np.testing.assert_array_equal(OPS["slice_by_index"](args), x[:, 1:4:2, 2])
