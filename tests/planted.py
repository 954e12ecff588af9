"""A planted-evidence test double for the scorer seam: its visual-quality digits, its first sentence and its
re-generated scores depend on one known temporal group and on nothing else, except a small positional drift that
every mean-colour fill adds (on the clip and on a constant clip alike, as the real model's drift does)."""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from tests.helpers import INFO
from vs2demo.analysis.parse import parse_scores
from vs2demo.analysis.result import Result, Timings, build_result
from vs2demo.core.dimensions import DIMENSIONS
from vs2demo.core.options import GenerationOptions
from vs2demo.engine.rescore import Rescored
from vs2demo.evidence.scorer import Base, Fill, Pass, Subject, Visual
from vs2demo.evidence.total_effect import Draw
from vs2demo.input.framing import FRAME_FACTOR, FramePlan

TEXT = ("<think>The ball sinks into the wooden floor in the middle of the clip. The colours stay even and the "
        "lighting does not change at all.</think>\n(1) visual quality: 4\n(2) text-to-video alignment: 3\n"
        "(3) physical/common-sense consistency: 3")
FIRST_SENTENCE_END = TEXT.index("clip.") + len("clip.")
DRIFT = 0.002  # per mean-colour hidden span, growing with its position: the fill's own effect


def _log_softmax(logits: Sequence[float]) -> tuple[float, ...]:
    top = max(logits)
    z = top + math.log(sum(math.exp(x - top) for x in logits))
    return tuple(x - z for x in logits)


@dataclass
class PlantedScorer:
    """``group``: the temporal group that carries the evidence (None: nothing planted anywhere)."""

    group: int | None
    prompt: str = "a red ball bouncing on a wooden floor"

    def visible(self, visual: Visual) -> bool:
        if self.group is None or visual.base is Base.CONSTANT:
            return False
        frames = range(self.group * FRAME_FACTOR, (self.group + 1) * FRAME_FACTOR)
        return not any(a <= f < b for a, b in visual.hidden for f in frames)

    def drift(self, visual: Visual) -> float:
        return sum(DRIFT * (1 + a) for a, _ in visual.hidden if visual.fill is Fill.MEAN_COLOUR)

    def digits(self, visual: Visual, prompt: str) -> tuple[tuple[float, ...], ...]:
        seen, drift = self.visible(visual), self.drift(visual)
        quality = [0.0, 0.5, 1.0, 4.0, 1.0] if seen else [0.0, 3.0, 1.0, 0.5, 0.0]
        rows = [quality, [0.0, 0.5, 2.0, 0.5, 0.0], [0.0, 0.5, 2.0, 0.5, 0.0]]
        if prompt != self.prompt:
            rows[1] = [3.0, 0.5, 0.5, 0.0, 0.0]
        return tuple(_log_softmax([x - (drift if s == 4 else 0.0) for s, x in enumerate(r)]) for r in rows)

    def result(self, plan: FramePlan, options: GenerationOptions | None = None) -> Result:
        digits = self.digits(Visual(), self.prompt)
        return build_result("planted.mp4", self.prompt, TEXT, plan, INFO, options or GenerationOptions(seed=7),
                            Timings(0.0, 0.0, 0.0, 0.0, len(TEXT)), False, digits, None,
                            tuple(ord(c) for c in TEXT))

    def open(self, result: Result) -> PlantedSession:
        return PlantedSession(self, result)


class PlantedSession:
    def __init__(self, scorer: PlantedScorer, result: Result) -> None:
        self.scorer, self.result = scorer, result
        self.lock = threading.Lock()
        frames = len(result.plan.indices)
        # one token per character: token i ends at character i + 1, a digit at character p is token p
        steps = tuple(parse_scores(result.raw_output).digit_pos)
        self.subject = Subject(tuple(result.token_ids), steps, tuple(range(1, len(result.raw_output) + 1)),
                               -(-frames // FRAME_FACTOR), frames)
        self.calls: list[Pass] = []

    def rescore(self, passes: Sequence[Pass]) -> list[Rescored]:
        self.calls += passes
        return [self._one(p) for p in passes]

    def _one(self, p: Pass) -> Rescored:
        seen, drift = self.scorer.visible(p.visual), self.scorer.drift(p.visual)
        tokens = []
        for i in range(len(p.ids) if p.want_tokens else 0):
            first = i < FIRST_SENTENCE_END and p.ids == self.subject.ids
            tokens.append((-0.2 if seen else -1.5) - drift if first else -0.7 - drift)
        digits = self.scorer.digits(p.visual, p.prompt)
        steps = tuple(digits[d] if s is not None else None for d, s in enumerate(p.digit_steps))
        return Rescored(tuple(tokens), steps, tuple(tokens), steps)

    def regenerate(self, conditions: Sequence[tuple[Visual, str]], seeds: Sequence[int],
                   stop: threading.Event) -> list[list[Draw]]:
        out = []
        for visual, prompt in conditions:
            seen = self.scorer.visible(visual)
            draws = []
            for s in seeds:
                wobble = 0.05 * (s % 3)  # sampling noise, the same with and without (paired seeds)
                hard = [4 if seen else 2, 3, 3]
                soft = [(3.9 if seen else 2.1) + wobble, 3.0 + wobble, 3.0 + wobble]
                if prompt != self.scorer.prompt:
                    hard[1], soft[1] = 1, 1.2 + wobble
                draws.append(Draw(tuple(hard), tuple(soft)))
            out.append(draws)
        return out

    def chunk_size(self, count: int, generating: bool, rows_each: int = 1) -> int:
        return 3


assert len(DIMENSIONS) == 3  # the double writes three rows of digits
