"""The page's prose, built from the constants the code uses, so the words can never drift from the behaviour."""

from __future__ import annotations

from .dimensions import DIMENSIONS, SCORE_VALUES
from .framing import FACTOR, FRAME_FACTOR, MAX_FRAMES, MIN_FRAMES, VIDEO_MAX_PIXELS
from .options import OFFICIAL_FPS, OFFICIAL_TEMPERATURE

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

ABOUT = f"""### What happens when you press Evaluate
1. **Frames.** The clip is sampled at {OFFICIAL_FPS:g} frames per second ({MIN_FRAMES} to {MAX_FRAMES} frames,
   always a multiple of {FRAME_FACTOR}) and each frame is resized to a multiple of {FACTOR} pixels within a budget
   of {VIDEO_MAX_PIXELS:,} pixels, exactly as the official `qwen-vl-utils` does. The strip of thumbnails shows
   those frames with their timestamps.
2. **Prompt.** The model receives the official instruction, byte for byte, with your prompt inside it.
3. **Reasoning.** The model writes a `<think>` block; you see it token by token.
4. **Scores.** The three integers ({_names(bold=False)}) are read with the official regular expression. If that
   fails, a tolerant parser tries known variants and the result is marked amber; if nothing is found, no score
   is shown.
5. **Soft score (official).** At the token where each score digit is written, the model's probabilities for
   {LOW}…{HIGH} are read: soft = best × p(best) / Σ p. It shrinks when the model hesitates. The *expected* score
   Σ s·p(s)/Σ p and the *confidence* max p/Σ p are extras, not part of the official output.

Sampling (temperature {OFFICIAL_TEMPERATURE:g}) is the official setting, so two runs can differ; set a seed in
Settings to make runs reproducible.
"""
