"""The page's prose, built from the constants the code uses, so the words can never drift from the behaviour."""

from __future__ import annotations

from vs2demo.analysis.stability import STABLE_AGREEMENT
from vs2demo.analysis.verdict import CLEAR_SHARE, SOFT_TIE_MARGIN
from vs2demo.core.dimensions import DIMENSION_COUNT_WORD, DIMENSIONS, SCORE_VALUES
from vs2demo.core.options import OFFICIAL_FPS, OFFICIAL_MAX_NEW_TOKENS, OFFICIAL_TEMPERATURE
from vs2demo.evidence.faithfulness import MIN_RANDOM_ORDERS
from vs2demo.evidence.floor import MIN_NATS_PER_TOKEN, MIN_SCORE_POINTS
from vs2demo.evidence.options import DEFAULT_RESAMPLES
from vs2demo.evidence.record import DEFAULT_MAX_SEGMENTS
from vs2demo.input.framing import (
    FACTOR,
    FRAME_FACTOR,
    MAX_FRAMES,
    MIN_FRAMES,
    VIDEO_MAX_PIXELS,
    VideoInfo,
    frame_geometry,
)
from vs2demo.present.evidence_html import FULL_SCALE, NOT_DISTINGUISHABLE, NOT_MEASURABLE

PAPER = "https://arxiv.org/abs/2509.22799"
# VideoScore-Bench-v2 (in domain) and the average over four out-of-domain benchmarks, as published
BENCH_ACCURACY, BENCH_GAIN, OOD_AVERAGE = 44.35, 5.94, 50.37


def _names(bold: bool = True) -> str:
    titles = [f"**{d.title.lower()}**" if bold else d.title.lower() for d in DIMENSIONS]
    return ", ".join(titles[:-1]) + " and " + titles[-1]


LOW, HIGH = SCORE_VALUES[0], SCORE_VALUES[-1]

INTRO = f"""# VideoScore2 explorer
[VideoScore2]({PAPER}) watches an AI-generated clip, reasons in a `<think>` block, then scores {_names()} from
{LOW} to {HIGH}. Upload a clip with the prompt it was generated from, and watch it think. Published results:
{BENCH_ACCURACY}% accuracy on VideoScore-Bench-v2 (+{BENCH_GAIN} over the best baseline), {OOD_AVERAGE} average on
four out-of-domain benchmarks."""

def worked_example(seconds: float = 5.0, width: int = 1280, height: int = 720, fps: float = 24.0) -> str:
    """The path of one clip, every number computed by the code's own frame maths (its geometry only: frame
    indices need torch, and building the page's prose must import nothing heavy)."""
    n, h, w = frame_geometry(VideoInfo("example.mp4", round(seconds * fps), fps, width, height, 0), OFFICIAL_FPS)
    groups = n // FRAME_FACTOR
    per_group = (h // FACTOR) * (w // FACTOR)
    return (
        f"**{seconds:g} s of {width}×{height} at {fps:g} fps** → **{n} frames** ({OFFICIAL_FPS:g} per second) → "
        f"resized to **{w}×{h}** (multiples of {FACTOR} px) → **{groups} pairs of "
        f"frames** ({FRAME_FACTOR} frames per temporal patch) × **{per_group} visual tokens** each "
        f"({w // FACTOR}×{h // FACTOR}, one per {FACTOR}×{FACTOR} px) = "
        f"**{groups * per_group:,} visual tokens** → the `<think>` reasoning (at most {OFFICIAL_MAX_NEW_TOKENS} "
        f"tokens) → **{DIMENSION_COUNT_WORD} scores**, {LOW} to {HIGH}, each with p({LOW})…p({HIGH}) at its digit")


ABOUT_BODY = f"""### From a clip to {DIMENSION_COUNT_WORD} scores
{worked_example()}

### What happens when you press Evaluate
1. **Frames.** The clip is sampled at {OFFICIAL_FPS:g} frames per second ({MIN_FRAMES} to {MAX_FRAMES} frames,
   always a multiple of {FRAME_FACTOR}) and each frame is resized to a multiple of {FACTOR} pixels within a budget
   of {VIDEO_MAX_PIXELS:,} pixels, exactly as the official `qwen-vl-utils` does. The strip of thumbnails shows
   those frames with their timestamps.
2. **Prompt.** The model receives the official instruction, byte for byte, with your prompt inside it.
3. **Reasoning.** The model writes a `<think>` block; you see it token by token.
4. **Scores.** The {DIMENSION_COUNT_WORD} integers ({_names(bold=False)}) are read with the official regular
   expression. If that fails, a tolerant parser tries known variants and the result is marked amber; if nothing
   is found, no score is shown.
5. **Soft score (official).** At the token where each score digit is written, the model's probabilities for
   {LOW}…{HIGH} are read: soft = best × p(best) / Σ p. It shrinks when the model hesitates. The *expected* score
   Σ s·p(s)/Σ p and the *confidence* max p/Σ p are extras, not part of the official output.

Sampling (temperature {OFFICIAL_TEMPERATURE:g}) is the official setting, so two runs can differ; set a seed in
Settings to make runs reproducible.

### How sure is the judge? (extras)
- **Samples.** With *Samples per clip* K > 1 the clip is scored K times with seeds s, s+1, …; each sample can be
  reproduced alone with its seed. A dimension is *stable* when at least {100 * STABLE_AGREEMENT:.0f}% of the samples
  give the same score, *±1* when every sample is within one of the most common score, and *unstable* otherwise.
- **Compare.** Overall is the sum of the {DIMENSION_COUNT_WORD} scores (the paper's pairwise protocol). With K
  samples, sample k of A meets sample k of B, and a clip is better only when it wins at least
  {100 * CLEAR_SHARE:.0f}% of the pairs; otherwise the verdict is *too close to call*. With one sample, soft scores
  break a tie only when they differ by {SOFT_TIE_MARGIN:g} or more.
- **Rank (best of N).** Clips for one prompt are ranked by the sum of their official soft scores, as the paper's
  Best-of-N reranking does; with K samples the leaderboard counts how often each clip ranked first and flags
  ranks that some sample ordered differently.

### Explain this result: which seconds and sentences a score rests on (an extra)
After a result, *Explain this result* asks what the scores rest on, without ever changing them. It measures three
things and names them apart. The **direct effect** is how the score moves when some seconds are hidden *while the
model's own reasoning is fed back unchanged*; the **total effect** is what the clip scores when the model *writes
again* without those seconds, re-generated {DEFAULT_RESAMPLES} times with the same seeds with and without them.

```text
direct effect  hidden seconds + the SAME reasoning fed back ─► score digits read again (one pass)
total effect   hidden seconds ─► the model writes AGAIN, {DEFAULT_RESAMPLES} paired seeds ─► new scores (a run each)
grounding      hidden seconds + the same reasoning ─► how much less likely each sentence is (nats/token)
```

- **Seconds.** The clip's frame pairs (one second at {OFFICIAL_FPS:g} fps) are merged into at most
  {DEFAULT_MAX_SEGMENTS} segments, each hidden in turn by two fills of different kinds (the processor's mean colour,
  and the neighbouring frame frozen over it): no fill is neutral, so a cell where they disagree is marked dashed.
  The strips show each segment's direct effect on the expected score (red lowers it, blue raises it, full colour at
  {FULL_SCALE:g} point) and its grounding (purple). Numbers come from the model's raw probabilities (temperature 1,
  nothing cut off), which never saturate; the log-odds of the written score are given beside.
- **Noise floor.** The same hiding on a constant clip of the same length (nothing to find there) gives each row a
  floor, at least {MIN_SCORE_POINTS:g} point or {MIN_NATS_PER_TOKEN:g} nats per token. A cell within it, or whose
  samples disagree in sign, reads "{NOT_DISTINGUISHABLE}" (not distinguishable from 0) and is uncoloured; "rests
  most on" is said only of an effect beyond it. "{NOT_MEASURABLE}" means not measurable here, not "unused".
- **Sentences.** A sentence is *about* the seconds whose hiding makes it less likely beyond its floor and by at
  least half its largest drop; a table gives every sentence × second number. Choosing a dimension tints each
  sentence by the direct effect of *removing that sentence*. Grounded sentences become subtitles on the player.
- **Watching and reading.** Answered by re-generation: the whole clip hidden, the frames reversed or shuffled, an
  unrelated prompt. "Yes" only when a score's 95% interval over the paired seeds excludes 0.
- **Faithfulness.** Hiding segments cumulatively in the claimed order should hurt the reasoning faster than in
  random order (deletion curve; {MIN_RANDOM_ORDERS} random orders): the page says at which percentile it beats them.

What this measures: how sensitive *this model's output* is to the hidden evidence. It is not a ground truth about
the video: a model can rest a correct score on the wrong seconds, and a fill is itself an unusual input. The
unaltered pass must give back the probabilities recorded while generating; the check says whether it does.
"""

# the radar's two lines, named alike on the page's chart and in the report's picture
WRITTEN_NAME = "written score (1–5)"
SOFT_NAME = "soft score (official, dotted)"

GLOSSARY_TERMS: tuple[tuple[str, str], ...] = (
    ("reasoning (`<think>`)", "the text the model writes before its scores, inside a `<think>` … `</think>` block; "
     "the page streams it as it is written."),
    ("visual tokens", f"the pieces the model cuts the frames into before reading them: one per {FACTOR}×{FACTOR} "
     f"pixels of a pair of frames."),
    ("pair of frames (temporal patch)", f"the model reads frames {FRAME_FACTOR} at a time; hiding \"a second\" "
     "hides whole pairs."),
    ("temperature", f"how freely the model picks its next word: {OFFICIAL_TEMPERATURE} (official) lets it write a "
     "less likely word now and then, so two runs can differ."),
    ("seed", "the number that fixes those random picks: the same seed gives the same text again."),
    ("greedy", "always the single most likely next word (no randomness); not the official setting."),
    ("sample", "one run of the model on the clip; several samples (with seeds s, s+1, …) show how much it varies."),
    ("official parse / fallback", "the official script reads the scores with one exact pattern; when the text "
     "strays from it, a tolerant reader may still find them, and the page says so."),
    ("soft score", "the official number beside each score: the most probable digit times how sure the model was "
     "of it (its share of p(1) … p(5)), so lower than that digit when the model hesitated; a sampled written "
     "score may be another digit."),
    ("expected score", "the average of 1 to 5 weighted by the model's probability for each: an extra."),
    ("p(1) … p(5)", "how likely the model found each score at the moment it wrote the digit."),
    ("extras", "anything the official script does not compute (expected scores, samples, explanations): labelled "
     "so, and the official scores never change."),
    ("spread (sd)", "the standard deviation: how far the samples' numbers typically sit from their average."),
    ("replay", "an example's run, computed once on this server and shown again, with its timings."),
    ("direct effect", "how a score's probabilities move when some seconds are hidden but the reasoning is kept as "
     "it was written (the model re-reads its own text: teacher-forced)."),
    ("total effect", "what the model scores when it watches the clip without those seconds and writes everything "
     "again (re-generated with the same seeds)."),
    ("grounding (nats)", "how much less likely the reasoning becomes without some seconds; a nat is a unit of "
     "likelihood: 1 nat ≈ 2.7 times less likely."),
    ("fill (mean colour)", "what hidden seconds are replaced by: the colour the model's image normaliser maps to "
     "zero; no fill is truly neutral, so a second kind (frozen neighbours) is shown beside it."),
)

GLOSSARY = "### Words used here\n" + "\n".join(f"- **{term}**: {meaning}" for term, meaning in GLOSSARY_TERMS)

ABOUT = ABOUT_BODY + "\n" + GLOSSARY  # How it works ends with the glossary the page also offers beside the result
