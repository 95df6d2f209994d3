"""The elementwise part of the recurrent cells (everything after the gate GEMMs), shared by the
cached and the uncached paths so that fusing it never changes what caching is measured against.

Each function takes the gates' pre-activations as separate ``[rows, H]`` tensors (views of one
GEMM output in the cached path, one GEMM output per gate in the uncached path). With
:func:`compile_gates` they run through ``torch.compile`` (one fused loop forward and one
backward instead of ~10 passes over memory each); otherwise eagerly. The results are the same
up to rounding either way.

    GRU:  z = sigma(z_pre),  rh = sigma(r_pre) . h         (gru_reset)
          h_t = z . h + (1 - z) . tanh(c_pre)               (gru_update)
    LSTM: i = sigma(i_pre + w_ci . c),  f = sigma(f_pre + w_cf . c),
          c_t = f . c + i . tanh(c_pre),  o = sigma(o_pre + w_co . c_t),
          h_t = o . tanh(c_t)                               (lstm_update)
"""

from __future__ import annotations

import torch

__all__ = ["compile_gates", "gates_compiled", "gru_reset", "gru_update", "lstm_update"]


def _gru_reset(z_pre, r_pre, h):
    # z_pre, r_pre, h: [rows, H] -> (z, r . h)
    return torch.sigmoid(z_pre), torch.sigmoid(r_pre) * h


def _gru_update(c_pre, h, z):
    # c_pre, h, z: [rows, H] -> h_t
    return torch.lerp(torch.tanh(c_pre), h, z)


def _lstm_update(i_pre, f_pre, c_pre, o_pre, c, peephole):
    # gates, c: [rows, H]; peephole: [3, H] -> (h_t, c_t)
    i = torch.sigmoid(torch.addcmul(i_pre, c, peephole[0]))
    f = torch.sigmoid(torch.addcmul(f_pre, c, peephole[1]))
    c_new = torch.addcmul(f * c, i, torch.tanh(c_pre))
    o = torch.sigmoid(torch.addcmul(o_pre, c_new, peephole[2]))
    return o * torch.tanh(c_new), c_new


_EAGER = {"gru_reset": _gru_reset, "gru_update": _gru_update, "lstm_update": _lstm_update}
_active = dict(_EAGER)


def compile_gates(enabled: bool = True) -> None:
    """Run the cells' elementwise gate math through ``torch.compile`` (needs a C++ compiler on
    CPU; the first call of each shape and dtype compiles, which takes seconds). Affects the
    cached and uncached paths alike. ``compile_gates(False)`` goes back to eager."""
    if not isinstance(enabled, bool):
        raise TypeError(f"compile_gates: enabled must be a bool, got {type(enabled).__name__}")
    if enabled:
        for name, fn in _EAGER.items():
            _active[name] = torch.compile(fn, dynamic=False)
    else:
        _active.update(_EAGER)


def gates_compiled() -> bool:
    return _active["gru_reset"] is not _EAGER["gru_reset"]


def gru_reset(z_pre, r_pre, h):
    return _active["gru_reset"](z_pre, r_pre, h)


def gru_update(c_pre, h, z):
    return _active["gru_update"](c_pre, h, z)


def lstm_update(i_pre, f_pre, c_pre, o_pre, c, peephole):
    return _active["lstm_update"](i_pre, f_pre, c_pre, o_pre, c, peephole)
