"""The engine's interface: everything the evaluator and the evidence work may ask of a loaded model.

Load (``loader.load_engine``), prepare a clip's tensors, generate rows (per row: ids, text, character offsets,
digit log-probabilities at every step, timing, all in ``GenerationSummary``), and re-score teacher-forced
variants. Nothing above the engine touches transformers, a model or a processor: it holds an ``Engine``, which
tests can replace by a fake (tests/test_engine_interface.py).
"""

from __future__ import annotations

import threading
from collections.abc import Generator, Sequence
from typing import Any, Protocol, runtime_checkable

from vs2demo.analysis.result import ModelInfo
from vs2demo.engine.budget import RequestCost
from vs2demo.engine.events import Piece, Progress, Status
from vs2demo.engine.generation import GenerationSummary, RowDecoder, RowKey, Sampling
from vs2demo.engine.inputs import PreparedClip
from vs2demo.engine.rescore import Rescored, Variant
from vs2demo.input.framing import FramePlan
from vs2demo.input.video import Frames


@runtime_checkable
class Engine(Protocol):
    """A loaded evaluator model, shared by every caller (thread-safe: one generation or pass at a time)."""

    info: ModelInfo

    def video_tensors(self, frames: Frames) -> dict[str, Any]:
        """The processor's tensors for a clip's frames (what ``PreparedClip.video_inputs`` holds)."""
        ...

    def fill_colour(self) -> Any:
        """The processor's mean colour as one uint8 RGB pixel (what normalises to zero)."""
        ...

    def encode_video(self, pixels: Any, groups: int, height: int, width: int) -> Any:
        """The vision tower's merged tokens for ``groups`` temporal groups of pixel rows (one call, on the model's
        device, under the model's lock): what a re-scoring pass may take instead of re-encoding the clip."""
        ...

    def generate(self, clips: Sequence[PreparedClip], prompts: Sequence[str], sampling: Sampling,
                 keys: Sequence[RowKey], stop: threading.Event) -> Generator[Piece | Progress, None, GenerationSummary]:
        """One batch, a row per (clip, prompt): yields text pieces as they decode, returns every row's outcome."""
        ...

    def rescore(self, clip: PreparedClip, variants: Sequence[Variant], sampling: Sampling) -> list[Rescored]:
        """Teacher-forced re-scoring of variants of a finished output, in one pass."""
        ...

    def decode(self, ids: Sequence[int]) -> RowDecoder:
        """Generated ids decoded as the official script decodes them, with each token's character offset."""
        ...

    def rows_per_pass(self, rows: int, visual_tokens: int, new_tokens: int, rescoring: bool = False) -> int:
        """How many of ``rows`` one generate() call (or re-scoring pass) may hold in the memory free now."""
        ...

    def request_cost(self, plans: Sequence[FramePlan], rows: int, new_tokens: int) -> RequestCost:
        """What a request of these clips (one plan per job) and ``rows`` holds at its peak: its clips and one vision
        pass, plus each row's cache and activations (budget.py)."""
        ...

    def memory_budget(self) -> int:
        """The bytes one request may use now."""
        ...

    def warm_up(self) -> Generator[Status, None, None]:
        """Whatever makes the first request as fast as the next (compiling the decode step), telling its status."""
        ...

    def wait_idle(self, timeout: float) -> bool:
        """True once no generation or pass holds the model (within ``timeout`` seconds)."""
        ...
