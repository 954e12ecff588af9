"""Counting the operations that make the host wait for the device, per decode step, on any device (CPU included).

On a GPU, the host queues kernels ahead of the device until something needs a device value on the host: a
``.item()``, a ``bool(tensor)``, a copy to the host, a ``nonzero``, or a tensor made from host data (a Python list
used as an index is copied to the device, blocking). Each such point drains the queue, so a decode loop with
several of them per step leaves the GPU idle while Python runs. On CPU nothing waits, but the same calls happen:
``SyncCounter`` watches them through a ``__torch_function__`` mode (what Python asks of torch, before dispatch,
so a CPU run counts what a CUDA run would wait on) and attributes them to decode steps by the model's forward
calls. Asynchronous copies (``non_blocking=True``) are not counted: they do not wait.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

# What always waits for the device when the value lives there.
_WAITING_METHODS = {"item", "tolist", "numpy", "__bool__", "__int__", "__float__", "__index__", "nonzero",
                    "cpu", "equal", "allclose", "masked_select", "unique"}
# torch.* functions building a tensor from host data (a copy to the device when one is named).
_FROM_HOST = {"tensor", "as_tensor"}


@dataclass
class SyncLog:
    """Waiting operations by phase: ``steps[0]`` until generate() first processes scores (setup, the prefill),
    then one entry per generated token, from its scores' processing (sampling, the stop check) through the next
    forward pass. The first token's entry also holds one-off setup (buffers made on first use), so the decode
    steps proper are the entries after it."""

    steps: list[Counter] = field(default_factory=lambda: [Counter()])

    @property
    def decode_steps(self) -> list[Counter]:
        return self.steps[2:]

    def per_step(self) -> int:
        """The most waits any decode step had (what the acceptance bar bounds)."""
        return max((sum(c.values()) for c in self.decode_steps), default=0)

    def kinds(self) -> Counter:
        total: Counter = Counter()
        for c in self.decode_steps:
            total.update(c)
        return total


def _name(func: Any) -> str:
    return getattr(func, "__name__", "") or str(func)


def _index_waits(index: Any) -> str | None:
    """Why using ``index`` to index a device tensor makes the host wait (None when it does not)."""
    import torch

    parts = index if isinstance(index, tuple) else (index,)
    for part in parts:
        if isinstance(part, list):
            return "index from a host list (blocking copy to the device)"
        if isinstance(part, torch.Tensor) and part.dim() == 0 and not part.dtype.is_floating_point:
            return "0-dim tensor as an index (.item())"
        if isinstance(part, torch.Tensor) and part.dtype == torch.bool:
            return "boolean mask index (nonzero)"
    return None


def _copy_waits(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
    """``tensor.to("cpu")`` from another device waits, unless asked to be asynchronous (``non_blocking=True``).
    A same-device ``.to`` (all of a CPU run's) copies nothing across: not counted."""
    import torch

    source = args[0] if args and isinstance(args[0], torch.Tensor) else None
    if source is None or source.device.type == "cpu" or kwargs.get("non_blocking") or any(a is True for a in args[2:]):
        return None
    devices = [a for a in args[1:] if isinstance(a, (str, torch.device))] + [kwargs.get("device")]
    return "copy to the host" if any(d is not None and str(d) == "cpu" for d in devices) else None


def _tensors(value: Any) -> list[Any]:
    import torch

    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _tensors(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _tensors(v)]
    return []


def _install_mode() -> Any:
    import weakref

    import torch
    from torch.overrides import TorchFunctionMode

    class _Mode(TorchFunctionMode):
        """Counts waits; tracks host copies (a ``.cpu()`` result and what is computed from host tensors only),
        whose own ``.tolist()`` or ``.item()`` read host memory and wait for nothing."""

        def __init__(self, log: SyncLog) -> None:
            super().__init__()
            self.log = log
            self.host: set[int] = set()  # ids of live host tensors (a WeakSet would compare tensors with ==)

        def _mark_host(self, tensor: Any) -> None:
            if id(tensor) not in self.host:
                self.host.add(id(tensor))
                weakref.finalize(tensor, self.host.discard, id(tensor))

        def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
            kwargs = kwargs or {}
            name = _name(func)
            inputs = _tensors(args) + _tensors(kwargs)
            on_host = bool(inputs) and all(id(t) in self.host for t in inputs)
            why = None
            if on_host:
                pass
            elif name in _WAITING_METHODS:
                why = name
            elif name in ("__getitem__", "__setitem__") and len(args) > 1:
                why = _index_waits(args[1])
            elif name == "to":
                why = _copy_waits(args, kwargs)
            elif name in _FROM_HOST and func in (torch.tensor, torch.as_tensor):
                why = "tensor from host data"
            if why:
                self.log.steps[-1][why] += 1
            result = func(*args, **kwargs)
            if name == "cpu" and args and result is args[0]:
                result = result.clone()  # on a CPU run .cpu() returns its input: a copy, as on a GPU
            if on_host or name == "cpu":
                for t in _tensors(result):
                    self._mark_host(t)
            return result

    return _Mode


class SyncCounter:
    """``with SyncCounter(model) as log: model.generate(...)``: the waits of every step in ``log``.

    A ``__torch_function__`` mode is per thread, so it is entered inside ``model.generate`` (wrapped on this
    instance while the counter is open): the count follows generate() onto whichever thread runs it. Steps are
    told apart by a logits processor placed first in generate()'s list, not by module hooks, which would change
    (and recompile) a compiled forward."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.log = SyncLog()
        self._own: Any = None

    def __enter__(self) -> SyncLog:
        from transformers import LogitsProcessorList

        mode_class = _install_mode()
        generate = self.model.generate
        log = self.log

        def mark(input_ids: Any, scores: Any) -> Any:
            log.steps.append(Counter())
            return scores

        def counted(*args: Any, **kwargs: Any) -> Any:
            kwargs["logits_processor"] = LogitsProcessorList([mark, *(kwargs.get("logits_processor") or [])])
            with mode_class(log):
                return generate(*args, **kwargs)

        self._own = vars(self.model).get("generate")  # an instance's own generate (a test double) comes back
        self.model.generate = counted
        return log

    def __exit__(self, *exc: Any) -> None:
        if self._own is not None:
            self.model.generate = self._own
        else:
            del self.model.generate  # the class's generate again
