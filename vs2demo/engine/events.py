"""What an evaluation streams: progress, frame plans, thumbnails, text pieces, then results.

The CLI, the page and the benchmark all consume the same events. ``index`` is always the position of a job in
the batch (0 for a single clip; 0 and 1 for clips A and B).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vs2demo.analysis.result import Result
from vs2demo.input.framing import FramePlan


@dataclass(frozen=True)
class Job:
    video: str
    prompt: str


@dataclass(frozen=True)
class Status:
    """Progress before tokens flow: loading, reading frames, thinking."""

    message: str
    index: int | None = None


@dataclass(frozen=True)
class Planned:
    """The frames a job's clip will contribute, known before any decoding or GPU time."""

    index: int
    plan: FramePlan


@dataclass(frozen=True, eq=False)
class FramesReady:
    """Small copies of the exact frames the model sees (T×h×w×3 uint8): what a page shows, cheap to send
    across a process boundary (ZeroGPU pickles every event), unlike the full-size frames."""

    index: int
    plan: FramePlan
    thumbnails: np.ndarray


@dataclass(frozen=True)
class Piece:
    """Generated text for one job (and one of its samples), as soon as it decodes to whole characters."""

    index: int
    text: str
    sample: int = 0


@dataclass(frozen=True)
class Progress:
    """While several samples generate in one batch (only the first streams its text): how many have finished."""

    finished: int
    rows: int


@dataclass(frozen=True)
class Finished:
    """Each job's result (its first sample), and every sample of every job (one each unless samples > 1)."""

    results: tuple[Result, ...]
    samples: tuple[tuple[Result, ...], ...] = ()

    def __post_init__(self) -> None:
        if not self.samples:
            object.__setattr__(self, "samples", tuple((r,) for r in self.results))


Event = Status | Planned | FramesReady | Piece | Progress | Finished
