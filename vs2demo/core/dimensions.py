"""The three VideoScore2 dimensions, defined once.

Everything that lists dimensions (prompt checks, parser, soft scores, charts, tables, JSON) loops
over ``DIMENSIONS`` so the order and the spelling can never drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Dimension:
    key: str  # JSON key
    title: str  # human heading in the UI
    label: str  # how the model writes it, lower case, without the colon
    descriptor: str  # what the prompt says the dimension covers
    placeholder: str  # the "<v_score>" slot the prompt's format line names
    chart_label: str  # a short, wrapped axis label for the radar chart


DIMENSIONS: tuple[Dimension, ...] = (
    Dimension(
        "visual_quality", "Visual quality", "visual quality", "clarity, smoothness, artifacts", "<v_score>",
        "Visual quality",
    ),
    Dimension(
        "text_to_video_alignment",
        "Text-to-video alignment",
        "text-to-video alignment",
        "fidelity to the prompt",
        "<t_score>",
        "Text-to-video<br>alignment",
    ),
    Dimension(
        "physical_consistency",
        "Physical / common-sense consistency",
        "physical/common-sense consistency",
        "naturalness and physics plausibility",
        "<p_score>",
        "Physical/<br>common-sense",
    ),
)

# The few places where one dimension has its own role (the prompt probe reads alignment) name it here.
VISUAL_QUALITY, TEXT_TO_VIDEO_ALIGNMENT, PHYSICAL_CONSISTENCY = DIMENSIONS

SCORE_VALUES: tuple[int, ...] = (1, 2, 3, 4, 5)

_NUMBER_WORDS = ("one", "two", "three", "four", "five", "six")
DIMENSION_COUNT_WORD = _NUMBER_WORDS[len(DIMENSIONS) - 1]  # "three": prose says it from here, never by hand

OVERALL = "overall"  # the three dimensions together: ranked by, compared on and judged by reviewers as one more key
JUDGED = (*(d.key for d in DIMENSIONS), OVERALL)  # what a reviewer judges, and a label file scores: each, then overall
