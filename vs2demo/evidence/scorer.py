"""The scorer seam: what an explanation asks of a model, named as data so a test double can answer it too.

An explanation is a set of questions about one finished result: "how likely is this output, token by token, and
what are p(1..5) at the score digits, when the clip looks like *this* and the prompt says *that*?"
(teacher-forced re-scoring) and "what does the model write when the clip looks like this?" (re-generation with
given seeds). A ``Visual`` names what the clip looks like without building it: the model scorer turns it into
pixels only when its chunk runs (so a long list of variants never holds every altered clip at once); a test
double can read it directly (a planted-evidence scorer whose digits depend on one known second).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Protocol, runtime_checkable

from vs2demo.analysis.result import Result
from vs2demo.engine.rescore import Rescored
from vs2demo.evidence.total_effect import Draw


class Base(str, Enum):
    """The frames a variant starts from."""

    CLIP = "clip"  # the clip as the model saw it
    CONSTANT = "constant"  # every frame the clip's average colour: the noise floor's clip, same length
    REVERSED = "reversed"
    SHUFFLED = "shuffled"  # a fixed permutation of the frames (seeded: every run shuffles alike)


class Fill(str, Enum):
    """How hidden frames are replaced; two kinds, because no fill is neutral (see README: Evidence)."""

    MEAN_COLOUR = "mean colour"  # the processor's mean colour (normalises to ~0: a direction set by rounding)
    FROZEN = "frozen neighbours"  # the last frame before the hidden span held over it (the first after, at 0 s)


@dataclass(frozen=True)
class Visual:
    """What the clip looks like in a variant: a base, and sampled-frame spans [first, last) hidden by a fill.
    Spans are in sampled frames (two per temporal group), so a per-frame variant keeps every token and position."""

    base: Base = Base.CLIP
    hidden: tuple[tuple[int, int], ...] = ()
    fill: Fill = Fill.MEAN_COLOUR


@dataclass(frozen=True)
class Pass:
    """One teacher-forced pass: a visual, a prompt, the generated ids fed back and where the score digits are."""

    visual: Visual
    prompt: str
    ids: tuple[int, ...]
    digit_steps: tuple[int | None, ...]
    want_tokens: bool = True


@dataclass(frozen=True)
class Subject:
    """The result as the scorer sees it: its ids, where its score digits are, where each token ends in the text."""

    ids: tuple[int, ...]
    digit_steps: tuple[int | None, ...]
    char_end: tuple[int, ...]  # char_end[i]: where generated token i ends in the raw output
    groups: int  # temporal groups of the clip (two sampled frames each)
    frames: int  # sampled frames


class Session(Protocol):
    """One result opened for explaining."""

    subject: Subject

    def rescore(self, passes: Sequence[Pass]) -> list[Rescored]: ...

    def regenerate(self, conditions: Sequence[tuple[Visual, str]], seeds: Sequence[int],
                   stop: threading.Event) -> list[list[Draw]]: ...

    def chunk_size(self, count: int, generating: bool, rows_each: int = 1) -> int: ...


@runtime_checkable
class Scorer(Protocol):
    def open(self, result: Result) -> Session: ...
