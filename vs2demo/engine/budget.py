"""A request's memory, decided before any frame is decoded: what its clips, the vision encoder and each batch row
will hold at the peak, against the budget one request may use.

The frame plans give every size in advance (frames × resized height × width), so the peak is arithmetic: each
distinct clip is held once as decoded frames (uint8) and as the processor's pixel tensor (float32), the vision
encoder runs on one clip at a time (vision.py), and each row adds its key-value cache, its share of the prefill and
its copy of the clip's features (batching.row_bytes). Rows run in chunks of as many as the rest of the budget
holds; a request that cannot fit even one row is refused with one message saying what to lower. Pure arithmetic
here; the budget's reading of free memory is at the edge (batching.free_bytes).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vs2demo.core.errors import InputError
from vs2demo.input.framing import FramePlan

PIXEL_BYTES = 4  # the processor's pixel tensor is float32, whatever the weights' dtype
VISION_COPIES = 4  # live activations of one vision block at its peak: input, attention, MLP hidden, output


@dataclass(frozen=True)
class RequestCost:
    """Bytes a request holds: ``fixed`` whatever the chunking (its clips, one encoder pass), plus ``per_row``."""

    fixed: int
    per_row: int
    rows: int

    def peak(self, rows_at_once: int) -> int:
        return self.fixed + rows_at_once * self.per_row


def clip_bytes(plan: FramePlan) -> int:
    """A prepared clip: its decoded frames (uint8) and its pixel tensor (float32), held for the request."""
    values = len(plan.indices) * plan.resized_height * plan.resized_width * 3
    return values + values * PIXEL_BYTES


def vision_bytes(plan: FramePlan, hidden: int, intermediate: int, dtype_bytes: int, patch: int = 14) -> int:
    """The vision encoder's peak activations for one clip: every patch through its widest layer, a few copies."""
    patches = len(plan.indices) * plan.resized_height * plan.resized_width // (patch * patch)
    return patches * (hidden + intermediate) * dtype_bytes * VISION_COPIES


def request_cost(plans: Sequence[FramePlan], rows: int, per_row: int, vision: Sequence[int]) -> RequestCost:
    """``plans`` one per job (a clip given twice is held once: same plan object or same file and size)."""
    distinct = {(p.info.path, p.resized_width, p.resized_height, tuple(p.indices)): p for p in plans}
    return RequestCost(sum(clip_bytes(p) for p in distinct.values()) + max(vision, default=0), per_row, rows)


def rows_at_once(cost: RequestCost, budget: int, refuse: bool = True) -> int:
    """As many rows as the budget holds beside the fixed part; when not even one fits, InputError (``refuse``,
    before the work) or one row at a time (the work is under way: free memory now excludes the clips already
    prepared, so the fixed part is counted twice)."""
    room = budget - cost.fixed
    if room < cost.per_row and refuse:
        raise InputError(over_budget(cost, budget))
    return max(1, min(cost.rows, room // max(cost.per_row, 1)))


def over_budget(cost: RequestCost, budget: int) -> str:
    return (f"This request needs about {_size(cost.peak(1))} of memory even one sample at a time; a request may use "
            f"{_size(budget)} here. Lower the frames per second, or use shorter or fewer clips.")


def _size(n: int) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.0f} MB"


def budget_bytes(free: int, usable_share: float) -> int:
    """What one request may use: $VS2_REQUEST_MB when set (MB = 10⁶ bytes), else the usable share of free memory."""
    configured = os.environ.get("VS2_REQUEST_MB")
    return int(float(configured) * 1_000_000) if configured else int(free * usable_share)


def device_budget(device: str) -> int:
    """``budget_bytes`` for the memory free on ``device`` now."""
    from vs2demo.engine import batching

    return budget_bytes(batching.free_bytes(device), batching.USABLE_SHARE)


def model_vision_bytes(model: Any, plan: FramePlan) -> int:
    """``vision_bytes`` for this model's vision tower."""
    import torch

    vision = model.config.vision_config
    dtype_bytes = torch.finfo(model.dtype).bits // 8
    hidden = vision.hidden_size
    return vision_bytes(plan, hidden, getattr(vision, "intermediate_size", 4 * hidden), dtype_bytes,
                        getattr(vision, "patch_size", 14))
