"""The explanation in plain sentences (pure), shared by the CLI, the page and the report, so every view says the
same thing. Three quantities, always named apart: the *direct effect* (same reasoning, teacher-forced), *grounding*
(nats per token the reasoning loses) and the *total effect* (re-generated with paired seeds). A claim ("rests most
on", "about", "watching") is made only of an effect that clears its noise floor or whose interval excludes 0.
"""

from __future__ import annotations

import math

from vs2demo.core.dimensions import DIMENSIONS, TEXT_TO_VIDEO_ALIGNMENT
from vs2demo.evidence import floor as floors
from vs2demo.evidence.record import DIRECT_NAME, GROUNDING_NAME, TOTAL_NAME, Explanation, Segment, Shift
from vs2demo.evidence.total_effect import MIN_TOTAL_POINTS, Condition, DimensionChange, Interval, TotalEffect

ALIGNMENT = DIMENSIONS.index(TEXT_TO_VIDEO_ALIGNMENT)


def seconds(segment: Segment) -> str:
    return f"{segment.start_s:.1f}–{segment.end_s:.1f} s"


def likelihood(drop: float) -> str:
    """A drop in nats as a factor a reader can picture."""
    if abs(drop) < 0.01:
        return "about as likely"
    factor = f"{math.exp(abs(drop)):.3g}×" if abs(drop) < 20 else f"e^{abs(drop):.0f}×"
    return f"{factor} {'less' if drop > 0 else 'more'} likely"


def move(base: float | None, s: Shift) -> str:
    if base is None or s.expected is None:
        return "no score"
    odds = "" if s.log_odds_delta is None else f", log-odds of the written score {s.log_odds_delta:+.2f}"
    return f"{base:.2f} → {s.expected:.2f}{odds}"


def points(x: float) -> str:
    """A signed change, with a third decimal where two would print a misleading ±0.00."""
    return f"{x:+.2f}" if abs(x) >= 0.005 or x == 0 else f"{x:+.3f}"


def interval(i: Interval | None) -> str:
    if i is None:
        return "no soft scores"
    if i.n < 2:
        return f"{points(i.mean)} (one pair: no interval)"
    return f"{points(i.mean)} (95% CI {points(i.low)} to {points(i.high)})"


def change_words(c: DimensionChange) -> str:
    return f"mean soft score {interval(c.soft_delta)}, {c.changed} of {c.pairs} written scores changed"


def seeds_words(t: TotalEffect) -> str:
    return f"{len(t.seeds)} paired seeds {t.seeds[0]}–{t.seeds[-1]}" if t.seeds else "no seeds"


def total_title(e: Explanation, t: TotalEffect) -> str:
    if t.condition is Condition.SEGMENTS_HIDDEN:
        return f"{', '.join(seconds(e.segments[i]) for i in t.segments)} hidden ({t.why})"
    return t.title


def moved(c: DimensionChange) -> bool:
    """A total effect is claimed when the paired soft-score interval excludes 0 and the mean is not negligible."""
    return c.soft_delta is not None and c.soft_delta.claimed


def total_lines(e: Explanation) -> list[str]:
    """One line per re-generated condition: the hard-score distribution change and the mean soft change."""
    lines = []
    for t in e.total:
        parts = "; ".join(f"{d.title.lower()} {change_words(c)}" for d, c in zip(DIMENSIONS, t.dimensions))
        lines.append(f"Total effect, {total_title(e, t)} ({seeds_words(t)}): {parts}.")
    return lines


def _total(e: Explanation, condition: Condition) -> TotalEffect | None:
    return next((t for t in e.total if t.condition is condition), None)


def watching_line(e: Explanation) -> str:
    """Answered from re-generation with the clip hidden (total effect), never from one fixed-reasoning digit."""
    t = _total(e, Condition.CLIP_HIDDEN)
    if t is None:
        return "Is the judge watching? Not measured: no re-generation was asked for (re-samples 0)."
    shown = [(d, c) for d, c in zip(DIMENSIONS, t.dimensions) if moved(c)]
    if shown:
        d, c = max(shown, key=lambda x: abs(x[1].soft_delta.mean))
        return (f"Is the judge watching? Yes: re-generated without the frames ({seeds_words(t)}), "
                f"{d.title.lower()} moves by {interval(c.soft_delta)} and {c.changed} of {c.pairs} written scores "
                "change.")
    return (f"Is the judge watching? Not shown: re-generated without the frames ({seeds_words(t)}), no score moves "
            f"by {MIN_TOTAL_POINTS:g} point or more with an interval that excludes 0.")


def reading_line(e: Explanation) -> str:
    """Answered from re-generation with an unrelated prompt (total effect on text-to-video alignment)."""
    t = _total(e, Condition.OTHER_PROMPT)
    name = TEXT_TO_VIDEO_ALIGNMENT.title.lower()
    if t is None:
        return "Is the judge reading the prompt? Not measured: no re-generation was asked for."
    c = t.dimensions[ALIGNMENT]
    if moved(c):
        return (f"Is the judge reading the prompt? Yes: re-generated with an unrelated prompt ({seeds_words(t)}), "
                f"{name} moves by {interval(c.soft_delta)}.")
    return (f"Is the judge reading the prompt? Not shown: with an unrelated prompt, {name} moves by "
            f"{interval(c.soft_delta)}: not {MIN_TOTAL_POINTS:g} point or more with an interval that excludes 0.")


def probe_lines(e: Explanation) -> list[str]:
    """The whole-input changes: watching and reading (total effects), then the teacher-forced probes."""
    lines = [watching_line(e), reading_line(e)]
    for p in e.probes:
        moves = "; ".join(f"{d.title.lower()} {move(b, s)}" for d, b, s in zip(DIMENSIONS, e.base_expected, p.shifts))
        lines.append(f"{p.title}, {DIRECT_NAME}: {moves}; grounding: the reasoning becomes "
                     f"{likelihood(p.reasoning_drop)} ({p.reasoning_drop_per_token:.3f} nats per token).")
    return lines


def moment_lines(e: Explanation) -> list[str]:
    """Per dimension, the seconds whose hiding moves its score most (direct effect), only above the floor."""
    lines = []
    for d, dim in enumerate(DIMENSIONS):
        base = e.base_expected[d]
        if base is None:
            lines.append(f"{dim.title}: no score to move.")
            continue
        i = e.strongest_direct(d)
        floor = f"noise floor ±{e.direct_floor[d]:.2f}"
        if i is None:
            lines.append(f"{dim.title}, {DIRECT_NAME}: no second moves it beyond the {floor} with both fills "
                         "agreeing (not established).")
            continue
        lines.append(f"{dim.title} rests most on {seconds(e.segments[i])}, {DIRECT_NAME}: hidden, "
                     f"{move(base, e.direct[d][i])} ({floor}).")
    return lines


def grounding_line(e: Explanation) -> str:
    cleared = [i for i in range(len(e.segments)) if e.reasoning_established(i)]
    if not cleared:
        return (f"Grounding: no second makes the reasoning less likely beyond the noise floor "
                f"({e.reasoning_floor:.3f} nats per token) with both fills agreeing.")
    i = max(cleared, key=e.reasoning_value)
    return (f"Grounding: the reasoning rests most on {seconds(e.segments[i])} (hidden, it loses "
            f"{e.reasoning_value(i):.3f} nats per token; floor {e.reasoning_floor:.3f}).")


# a removal is measured with the rest of the reasoning fed back as written (a direct effect), and judged against
# the floor measured for hiding seconds: none is measured for removing a sentence, and both lines say so
REMOVED = "removed (the rest of the reasoning kept as written), it"
REMOVAL_FLOOR = "the noise floor of hiding seconds (no floor is measured for removing a sentence)"


def sentence_lines(e: Explanation) -> list[str]:
    """Per reasoning sentence: the seconds it is about (grounding above its floor), and its removal's effect."""
    lines = []
    for s in e.sentences:
        grounded = e.grounded_segments(s.index)
        row = e.grounding[s.index]
        about = (", ".join(f"{seconds(e.segments[i])} ({row[i]:.3f} nats/token)" for i in grounded)
                 or f"no second beyond its floor ({e.grounding_floor[s.index]:.3f} nats/token)")
        removal = e.removals[s.index] if s.index < len(e.removals) else ()
        # only a move beyond the dimension's noise floor is told (the same floor as hiding seconds)
        strongest = floors.strongest([r.expected_delta for r in removal], e.direct_floor) if removal else None
        effect = ""
        if strongest is not None:
            d, r = DIMENSIONS[strongest], removal[strongest]
            effect = (f"; {REMOVED} moves {d.title.lower()} {move(e.base_expected[strongest], r)}, beyond "
                      f"{REMOVAL_FLOOR}")
        elif removal:
            effect = f"; {REMOVED} moves no score beyond {REMOVAL_FLOOR}"
        lines.append(f"{s.index + 1}. \u201c{s.text}\u201d: about {about}{effect}.")
    return lines


def faithfulness_line(e: Explanation) -> str | None:
    f = e.faithfulness
    if f is None:
        return None
    if not any(e.reasoning_established(i) for i in range(len(e.segments))):
        return ("Faithfulness: not assessed: no second's grounding clears the noise floor, so there is no ranking to "
                "test (the curves are in the JSON).")
    if f.deletion_beaten is None:  # stored before the noise-floor test existed: no verdict it did not measure
        verdict = "was not tested beyond the noise floor (an explanation stored before that test) against"
    else:
        verdict = ("beats" if f.beats_random else "does not beat" if f.distinguishable else
                   "is not distinguishable (beyond the noise floor) from")
    return (f"Faithfulness: the grounding ranking {verdict} random order ({f.deletion_percentile:.0f}th percentile "
            f"of {f.random_orders} random orders by deletion, {f.insertion_percentile:.0f}th by insertion); "
            f"redundancy (whole clip − Σ single seconds) {f.redundancy:+.3f} {f.unit}.")


def fills_line(e: Explanation) -> str:
    cells = [(d, i) for d in range(len(DIMENSIONS)) for i in range(len(e.segments))]
    disagree = sum(1 for d, i in cells if e.fills_disagree(d, i))
    return (f"Fills: hidden seconds were replaced by the {e.fills[0]} and, separately, by {e.fills[1]}; they "
            f"disagree on {disagree} of {len(cells)} direct-effect cells (marked; not established there).")


def spread_line(e: Explanation) -> str | None:
    if e.spread is None:
        return None
    return (f"Samples: all {e.spread.samples} samples explained; each cell shows the median, and a cell whose range "
            "across samples includes 0 is not distinguishable from 0. Sentences are the first sample's.")


def check_line(e: Explanation) -> str:
    diff = "not available" if e.consistency_max_diff is None else f"{e.consistency_max_diff:.2g}"
    verdict = {None: "Check", True: "Check passed", False: "Check FAILED (the model is not the one that wrote "
                                                           "this result, or its settings differ)"}[e.consistent]
    gens = f" and {e.generations} re-generated samples" if e.generations else ""
    return (f"{verdict}: the unaltered re-scoring gives back the digit probabilities recorded while generating "
            f"(largest difference {diff}); {e.passes} passes{gens} in {e.seconds:.1f} s.")


def names_line() -> str:
    return (f"Three quantities: {DIRECT_NAME}: the score with the reasoning fed back unchanged; {GROUNDING_NAME}; "
            f"{TOTAL_NAME}: what the clip scores when the model writes again without the evidence.")


def all_lines(e: Explanation) -> list[str]:
    optional = [x for x in (faithfulness_line(e), spread_line(e)) if x]
    return [e.label, names_line(), f"Measured with {e.measure}.", *probe_lines(e), *total_lines(e),
            *moment_lines(e), grounding_line(e), *optional, fills_line(e), *sentence_lines(e), check_line(e)]
