"""The page's output slots by name (one view per tab: one clip, two clips, N clips) and the throttle on
streamed updates: what the driver in handlers.py fills, never how."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import gradio as gr

from vs2demo.engine.events import Progress

UPDATE_EVERY_S = 0.05  # at most ~20 page updates a second while text streams


@dataclass(frozen=True)
class ClipSlots:
    """The outputs one clip of a view fills while it streams."""

    plan: str
    text: str
    gallery: str
    times: str  # the gallery's frame timestamps, kept as data for click-to-seek


@dataclass(frozen=True)
class View:
    outputs: tuple[str, ...]  # the handler's outputs, in order
    clips: tuple[ClipSlots, ...]
    streaming: str  # the status while text streams

    def streaming_status(self, samples: int, progress: Progress | None = None) -> str:
        """What the status says while text streams; with several samples, how many have finished."""
        if samples == 1:
            return self.streaming
        done = "" if progress is None else f" · {progress.finished} of {progress.rows} finished"
        return f"{self.streaming} {samples} samples each; the first streams{done}"

    def update(self, **values: Any) -> tuple:
        """One streamed update: the named outputs change, every other output is left as it is."""
        unknown = set(values) - set(self.outputs)
        if unknown:  # a misspelt output would otherwise be dropped without a word
            raise ValueError(f"no such outputs: {sorted(unknown)}")
        return tuple(values.get(s, gr.skip()) for s in self.outputs)


# "result" (the run's samples, for "Explain this result") is per-visitor state: API clients never see it
# "stored" (the stored result's id, for its link) is per-visitor state too
SCORE_VIEW = View(("status", "plan", "text", "radar", "cards", "gallery", "raw", "json", "file", "times", "result",
                   "stored"),
                  (ClipSlots("plan", "text", "gallery", "times"),), "Thinking… (streaming)")


COMPARE_VIEW = View(("status", "plan_a", "plan_b", "text_a", "text_b", "radar", "verdict", "table", "gallery_a",
                     "gallery_b", "json", "file", "times_a", "times_b", "stored"),
                    tuple(ClipSlots(f"plan_{c}", f"text_{c}", f"gallery_{c}", f"times_{c}") for c in "ab"),
                    "Both clips are thinking… (streaming)")


RANK_VIEW = View(("status", "board", "gallery", "json", "file", "ranked", "stored"), (), "The clips are thinking…")


MAX_RANK_CLIPS = 8


class Throttle:
    """Lets a streaming update through at most every UPDATE_EVERY_S (the last one always passes)."""

    def __init__(self) -> None:
        self.last = 0.0

    def ready(self) -> bool:
        now = time.monotonic()
        if now - self.last >= UPDATE_EVERY_S:
            self.last = now
            return True
        return False
