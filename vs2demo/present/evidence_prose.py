"""The explanation in plain sentences (pure): the probes, the strongest moments, each sentence's grounding.

Shared by the CLI, the page's probes panel and the JSON-reading tools, so every view says the same thing.
"""

from __future__ import annotations

import math

from vs2demo.core.dimensions import DIMENSIONS, TEXT_TO_VIDEO_ALIGNMENT
from vs2demo.evidence.record import Explanation, ProbeKind, Segment, Shift

# Below these, a change is reported as "barely": the probes' one-line verdicts.
BARELY_EXPECTED = 0.1  # expected-score points
BARELY_NATS_PER_TOKEN = 0.05


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
    return f"{base:.2f} → {s.expected:.2f}"


def probe_lines(e: Explanation) -> list[str]:
    """One line per probe, then what they say about watching and reading."""
    lines = []
    for p in e.probes:
        moves = "; ".join(f"{d.title.lower()} {move(b, s)}" for d, b, s in zip(DIMENSIONS, e.base_expected, p.shifts))
        lines.append(f"{p.title}: {moves} (expected scores, reasoning held fixed); the reasoning becomes "
                     f"{likelihood(p.reasoning_drop)}.")
    probes = {p.key: p for p in e.probes}
    clip = probes.get(ProbeKind.CLIP_HIDDEN)
    if clip is not None:
        watching = clip.reasoning_drop_per_token >= BARELY_NATS_PER_TOKEN
        lines.append("Is the judge watching? " + ("Yes: without the frames its reasoning becomes "
                                                   f"{likelihood(clip.reasoning_drop)}." if watching else
                                                   "Barely: its reasoning hardly depends on the frames."))
    empty = probes.get(ProbeKind.EMPTY_PROMPT)
    if empty is not None:
        align = empty.shifts[DIMENSIONS.index(TEXT_TO_VIDEO_ALIGNMENT)].expected_delta
        reading = align is not None and abs(align) >= BARELY_EXPECTED
        lines.append("Is the judge reading the prompt? " + (
            f"Yes: with an empty prompt {TEXT_TO_VIDEO_ALIGNMENT.title.lower()} moves by {align:+.2f}." if reading
            else f"Barely: the {TEXT_TO_VIDEO_ALIGNMENT.title.lower()} score hardly depends on the prompt."))
    return lines


def moment_lines(e: Explanation) -> list[str]:
    """Per dimension, the seconds whose hiding moves its score most."""
    lines = []
    for d, row, base in zip(DIMENSIONS, e.moments, e.base_expected):
        known = [(i, s) for i, s in enumerate(row) if s.expected_delta is not None]
        if not known:
            lines.append(f"{d.title}: no score to move.")
            continue
        i, s = max(known, key=lambda x: abs(x[1].expected_delta or 0.0))
        lines.append(f"{d.title} rests most on {seconds(e.segments[i])} (hidden: {move(base, s)}).")
    return lines


def sentence_lines(e: Explanation) -> list[str]:
    """Per reasoning sentence: the seconds it is about, and the score its removal moves most."""
    lines = []
    for s in e.sentences:
        grounded = e.grounded_segments(s.index)
        about = ", ".join(seconds(e.segments[i]) for i in grounded) or "no particular seconds"
        removal = e.removals[s.index] if s.index < len(e.removals) else ()
        moved = [(d, r) for d, r in zip(DIMENSIONS, removal) if r.expected_delta is not None]
        effect = ""
        if moved:
            d, r = max(moved, key=lambda x: abs(x[1].expected_delta or 0.0))
            base = e.base_expected[DIMENSIONS.index(d)]
            effect = f"; removing it moves {d.title.lower()} {move(base, r)}"
        lines.append(f"{s.index + 1}. \u201c{s.text}\u201d: about {about}{effect}.")
    return lines


def check_line(e: Explanation) -> str:
    diff = "not available" if e.consistency_max_diff is None else f"{e.consistency_max_diff:.2g}"
    return (f"Check: the unaltered re-scoring gives back the digit probabilities recorded while generating "
            f"(largest difference {diff}); {e.passes} passes in {e.seconds:.1f} s.")


def all_lines(e: Explanation) -> list[str]:
    return [e.label, *probe_lines(e), *moment_lines(e), *sentence_lines(e), check_line(e)]
