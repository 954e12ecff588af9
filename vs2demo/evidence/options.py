"""What an explanation measures and what it costs (pure): its options, checked when made; its progress; and the
passes and re-generations it will run, said before it runs (by the page, the CLI and the GPU lease alike)."""

from __future__ import annotations

from dataclasses import dataclass

from vs2demo.core.errors import VS2Error
from vs2demo.core.options import MAX_SAMPLES
from vs2demo.evidence.faithfulness import MIN_RANDOM_ORDERS
from vs2demo.evidence.record import DEFAULT_COUNTERFACTUAL, DEFAULT_MAX_SEGMENTS, DEFAULT_MAX_SENTENCES, ProbeKind
from vs2demo.input.framing import FRAME_FACTOR, FramePlan
from vs2demo.input.prompt import validate_prompt

MAX_SEGMENTS_LIMIT = 64
MAX_SENTENCES_LIMIT = 32
DEFAULT_RESAMPLES = 4  # K paired seeds per total-effect condition
DEFAULT_TOP_SECONDS = 2  # total effects for the top segments by grounding
MAX_FAITHFULNESS_SEGMENTS = 8  # deletion/insertion curves need up to 2ⁿ distinct hidden sets


class Stopped(VS2Error):
    """The explanation was stopped before it finished: nothing is kept."""


@dataclass(frozen=True)
class ExplainOptions:
    max_segments: int = DEFAULT_MAX_SEGMENTS
    max_sentences: int = DEFAULT_MAX_SENTENCES
    counterfactual: str = DEFAULT_COUNTERFACTUAL
    resamples: int = DEFAULT_RESAMPLES  # K for the total effects; 0: no re-generation (direct and grounding only)
    top_seconds: int = DEFAULT_TOP_SECONDS
    picked: tuple[float, ...] = ()  # seconds the viewer asks the total effect of (the segment containing each)
    sanity: bool = True  # re-generate with frames reversed, shuffled and an unrelated prompt
    random_orders: int = MIN_RANDOM_ORDERS  # the faithfulness band; 0: no curves
    every_sample: bool = True  # with K samples, explain each (median and spread per cell)
    per_frame: bool = False  # one segment per sampled frame (half a temporal group), up to max_segments frames

    def __post_init__(self) -> None:
        if not 1 <= self.max_segments <= MAX_SEGMENTS_LIMIT:
            raise ValueError(f"segments must be between 1 and {MAX_SEGMENTS_LIMIT}, got {self.max_segments}")
        if not 1 <= self.max_sentences <= MAX_SENTENCES_LIMIT:
            raise ValueError(f"sentences must be between 1 and {MAX_SENTENCES_LIMIT}, got {self.max_sentences}")
        if not 0 <= self.resamples <= MAX_SAMPLES:
            raise ValueError(f"re-samples must be between 0 and {MAX_SAMPLES}, got {self.resamples}")
        if self.resamples == 1:
            raise ValueError("re-samples must be 0 (none) or at least 2: one sample gives no interval")
        if self.top_seconds < 0 or any(t < 0 for t in self.picked):
            raise ValueError("top seconds and picked seconds cannot be negative")
        if self.random_orders and self.random_orders < MIN_RANDOM_ORDERS:
            raise ValueError(f"random orders must be 0 (no curves) or at least {MIN_RANDOM_ORDERS}, "
                             f"got {self.random_orders}")
        if not self.counterfactual.strip():
            raise ValueError("the counterfactual prompt is empty (the empty prompt is probed anyway)")
        validate_prompt(self.counterfactual)  # the same rules as any prompt: InputError if broken


@dataclass(frozen=True)
class ExplainProgress:
    done: int
    total: int
    stage: str = "re-scoring"  # or "re-generating"

    @property
    def message(self) -> str:
        unit = "passes" if self.stage == "re-scoring" else "samples"
        return f"Explaining: {self.stage} {self.done} of {self.total} {unit}…"


@dataclass(frozen=True)
class Cost:
    """What an explanation will run, said before it runs."""

    passes: int  # teacher-forced forward passes (at most; coinciding variants run once)
    generations: int  # re-generated samples (K per condition, the unaltered condition included)

    def sentence(self, resamples: int) -> str:
        conditions = self.generations // max(resamples, 1)
        gen = (f" and {self.generations} re-generated samples ({resamples} paired seeds × {conditions} conditions, "
               "each as long as a run)") if self.generations else ""
        return f"Explaining costs about {self.passes} re-scoring passes (one forward pass each){gen}."


def cost(segments: int, sentences: int, options: ExplainOptions, samples: int = 1) -> Cost:
    """The passes and re-generations an explanation of this size runs (an upper bound: duplicates run once)."""
    first = 1 + len(ProbeKind) + 3 * segments + 1 + sentences
    others = (samples - 1) * (1 + segments) if options.every_sample else 0
    curve = 0
    if options.random_orders and 2 <= segments <= MAX_FAITHFULNESS_SEGMENTS:
        curve = min(2 ** segments, 2 * segments * (options.random_orders + 1))
    return Cost(first + others + curve, options.resamples * len(_conditions_shape(segments, options)))


def planned_segments(plan: FramePlan, options: ExplainOptions) -> int:
    """How many segments an explanation of a clip with this plan measures (for its cost, said before it runs)."""
    frames = len(plan.indices)
    return frames if options.per_frame else min(-(-frames // FRAME_FACTOR), options.max_segments)


def _conditions_shape(segments: int, options: ExplainOptions) -> list[str]:
    if not options.resamples:
        return []
    shape = ["unaltered", "clip"] + ["top"] * min(options.top_seconds, segments) + ["picked"] * len(options.picked)
    return shape + (["reversed", "shuffled", "prompt"] if options.sanity else [])
