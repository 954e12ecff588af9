"""The digit recorder: log p("1") … log p("5") at every generation step, from the very scores generate() samples.

The official soft score reads ``generate(output_scores=True)``'s scores: the logits after *every* processor that
generate() builds from the checkpoint's generation config and the library's own defaults (repetition penalty,
temperature, a default top-k of 50 when the config names none, top-p, …). Rather than rebuilding that list by
hand, we let generate() build it and only make sure the recorder runs last: generate() places custom processors
before its sampling warpers, so ``record_after_all_processors`` moves the recorder to the end of the list.
"""

from __future__ import annotations

from typing import Any

_INSTALLED = "_vs2_recorder_last"


class DigitRecorder:
    """A logits processor that observes, never changes: 5 floats per row and step, not the vocabulary."""

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
    """Make this model instance's generate() run any DigitRecorder after all of its own processors.

    Everything else generate() builds stays exactly as it is, whatever the generation config says.
    Installed once per loaded model; other model instances are untouched.
    """
    if getattr(model, _INSTALLED, False):
        return
    from transformers import LogitsProcessorList

    build = model._get_logits_processor

    def build_then_record(*args: Any, **kwargs: Any) -> Any:
        processors = build(*args, **kwargs)
        recorders = [p for p in processors if isinstance(p, DigitRecorder)]
        return LogitsProcessorList([p for p in processors if not isinstance(p, DigitRecorder)] + recorders)

    model._get_logits_processor = build_then_record
    setattr(model, _INSTALLED, True)
