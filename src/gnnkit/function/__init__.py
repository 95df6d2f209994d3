"""Built-in message and reduce functions (DGL's ``dgl.function``, imported as ``fn``).

A builtin describes *what* to compute by naming feature fields; message passing decides *how*:
a builtin message paired with a builtin reduce is lowered to one fused sparse kernel call.

Messages: ``copy_u(u, out)``, ``copy_e(e, out)``, and ``{x}_{op}_{y}(lhs, rhs, out)`` for
x != y in {u, v, e} and op in {add, sub, mul, div, dot} (``u_mul_e``, ``u_add_v``, ``u_dot_v``,
``e_mul_v``, ...). Reducers: ``sum``, ``mean``, ``max``, ``min`` (``reducer(msg, out)``).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MessageFunction", "ReduceFunction", "copy_u", "copy_e", "copy_src", "copy_edge", "sum", "mean", "max", "min"]

_BINARY_OPS = ("add", "sub", "mul", "div", "dot")
_TARGETS = ("u", "v", "e")


@dataclass(frozen=True)
class MessageFunction:
    """A builtin message: ``out = op(lhs_target[lhs_field], rhs_target[rhs_field])``.

    ``op`` is 'copy' (only the lhs is read) or one of add/sub/mul/div/dot."""

    op: str
    lhs_target: str
    lhs_field: str
    out_field: str
    rhs_target: str | None = None
    rhs_field: str | None = None

    @property
    def name(self) -> str:
        if self.op == "copy":
            return f"copy_{self.lhs_target}"
        return f"{self.lhs_target}_{self.op}_{self.rhs_target}"


@dataclass(frozen=True)
class ReduceFunction:
    """A builtin reducer of the messages in ``msg_field`` into ``out_field``."""

    reducer: str
    msg_field: str
    out_field: str

    @property
    def name(self) -> str:
        return self.reducer


def _field(value, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a feature name (str), got {type(value).__name__}")
    return value


def copy_u(u: str, out: str) -> MessageFunction:
    """Message: the source node's feature ``u``."""
    return MessageFunction("copy", "u", _field(u, "copy_u: u"), _field(out, "copy_u: out"))


def copy_e(e: str, out: str) -> MessageFunction:
    """Message: the edge's feature ``e``."""
    return MessageFunction("copy", "e", _field(e, "copy_e: e"), _field(out, "copy_e: out"))


copy_src = copy_u
copy_edge = copy_e


def _make_binary(lhs_target: str, op: str, rhs_target: str):
    name = f"{lhs_target}_{op}_{rhs_target}"

    def builtin(lhs_field: str, rhs_field: str, out: str) -> MessageFunction:
        return MessageFunction(
            op,
            lhs_target,
            _field(lhs_field, f"{name}: lhs_field"),
            _field(out, f"{name}: out"),
            rhs_target,
            _field(rhs_field, f"{name}: rhs_field"),
        )

    builtin.__name__ = name
    builtin.__doc__ = f"Message: ``{op}({lhs_target}[lhs_field], {rhs_target}[rhs_field])``."
    return builtin


for _lhs in _TARGETS:
    for _rhs in _TARGETS:
        if _lhs == _rhs:
            continue
        for _op in _BINARY_OPS:
            _builtin = _make_binary(_lhs, _op, _rhs)
            globals()[_builtin.__name__] = _builtin
            __all__.append(_builtin.__name__)


def _make_reducer(reducer: str):
    def builtin(msg: str, out: str) -> ReduceFunction:
        return ReduceFunction(reducer, _field(msg, f"{reducer}: msg"), _field(out, f"{reducer}: out"))

    builtin.__name__ = reducer
    builtin.__doc__ = f"Reduce: ``{reducer}`` of the incoming messages (0 for a node with none)."
    return builtin


sum = _make_reducer("sum")  # noqa: A001 - DGL's public name
mean = _make_reducer("mean")
max = _make_reducer("max")  # noqa: A001
min = _make_reducer("min")  # noqa: A001


def aggregate(aggregator, msg: str, out: str):
    """Reduce with an aggregation that sees all messages at once:
    ``aggregator(messages [E, ...], adj: gnnkit.ops.SparseAdj) -> [num_dst, ...]``
    (e.g. a learnable softmax or power-mean aggregation module)."""
    from ..core.message_passing import AggregateFunction

    return AggregateFunction(aggregator, _field(msg, "aggregate: msg"), _field(out, "aggregate: out"))


__all__.append("aggregate")
