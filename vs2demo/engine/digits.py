"""The digit recorder: log p("1") … log p("5") at every generation step, from the very scores generate() samples.

The official soft score reads ``generate(output_scores=True)``'s scores: the logits after *every* processor that
generate() builds from the checkpoint's generation config and the library's own defaults (repetition penalty,
temperature, a default top-k of 50 when the config names none, top-p, …). Rather than rebuilding that list by
hand, we let generate() build it and only make sure the recorder runs last: generate() places custom processors
before its sampling warpers, so ``record_after_all_processors`` moves the recorder to the end of the list.

Seeded rows sample from their own random streams (``RowSampler``): a row seeded with s draws exactly what a
single run after ``torch.manual_seed(s)`` draws, whatever else is in the batch.
"""

from __future__ import annotations

from typing import Any

_INSTALLED = "_vs2_recorder_last"


class DigitRecorder:
    """A logits processor that observes, never changes: 5 floats per row and step, not the vocabulary."""

    runs_last = True  # after every processor generate() builds (record_after_all_processors)

    def __init__(self, digit_ids: list[int]) -> None:
        self.digit_ids = digit_ids
        self.steps: list[Any] = []  # one (rows × 5) float32 tensor per step

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        # log_softmax over the whole vocabulary in the scores' own dtype, as the official script takes it
        self.steps.append(torch.log_softmax(scores, dim=-1)[:, self.digit_ids])
        return scores

    def logprobs(self, row: int, step: int | None) -> tuple[float, ...] | None:
        if step is None or step >= len(self.steps):
            return None
        return tuple(self.steps[step][row].tolist())


def record_after_all_processors(model: Any) -> None:
    """Make this model instance's generate() run the processors marked ``runs_last`` (the digit recorder, then a
    per-row sampler) after all of its own, in the order they were passed.

    Everything else generate() builds stays exactly as it is, whatever the generation config says.
    Installed once per loaded model; other model instances are untouched.
    """
    if getattr(model, _INSTALLED, False):
        return
    from transformers import LogitsProcessorList

    build = model._get_logits_processor

    def build_then_record(*args: Any, **kwargs: Any) -> Any:
        processors = build(*args, **kwargs)
        last = [p for p in processors if getattr(p, "runs_last", False)]
        return LogitsProcessorList([p for p in processors if not getattr(p, "runs_last", False)] + last)

    model._get_logits_processor = build_then_record
    setattr(model, _INSTALLED, True)


class RowSampler:
    """The very last processor when rows carry seeds: each row draws its token from its own generator.

    generate() samples every row of a batch from one global stream, so a row's draws depend on its partners.
    Here row i draws ``torch.multinomial(softmax(scores[i]), 1, generator=g_i)``, which is what generate()'s own
    sampler draws for a single row after ``torch.manual_seed(seed_i)``, and the scores it returns leave only
    that token possible, so generate()'s own draw can only pick it.
    """

    runs_last = True

    def __init__(self, seeds: list[int], device: Any) -> None:
        import torch

        self.generators = [torch.Generator(device=device).manual_seed(int(s)) for s in seeds]

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        forced = torch.full_like(scores, float("-inf"))
        for row, generator in enumerate(self.generators):
            probs = torch.softmax(scores[row:row + 1], dim=-1)
            token = torch.multinomial(probs, num_samples=1, generator=generator)
            forced[row, token[0, 0]] = 0.0
        return forced
