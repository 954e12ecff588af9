"""The digit recorder: log p("1") … log p("5") at every generation step, from the very scores generate() samples.

The official soft score reads ``generate(output_scores=True)``'s scores: the logits after *every* processor that
generate() builds from the checkpoint's generation config and the library's own defaults (repetition penalty,
temperature, a default top-k of 50 when the config names none, top-p, …). Rather than rebuilding that list by
hand, we let generate() build it and only make sure the recorder runs last: generate() places custom processors
before its sampling warpers, so ``hf_internals.run_marked_processors_last`` moves those marked ``runs_last`` to the
end of the list.

Seeded rows sample from their own random streams (``RowSampler``): a row seeded with s draws exactly what a
single run after ``torch.manual_seed(s)`` draws, whatever else is in the batch.
"""

from __future__ import annotations

from typing import Any


class DigitRecorder:
    """A logits processor that observes, never changes: 5 floats per row and step, not the vocabulary.

    Nothing in it makes the host wait for the device: the digits' ids live on the device (made once, before the
    decode loop, when ``device`` is given), and each step's values are written into a preallocated device buffer
    (grown by doubling if a run outlasts ``capacity``). The host reads the buffer once, after generation.
    """

    runs_last = True  # after every processor generate() builds (hf_internals.run_marked_processors_last)

    def __init__(self, digit_ids: list[int], device: Any = None, capacity: int = 64) -> None:
        self.digit_ids = list(digit_ids)
        self.count = 0  # steps recorded
        self._capacity = max(1, capacity)
        self._index: Any = None if device is None else _device_index(self.digit_ids, device)
        self._buffer: Any = None  # (capacity, rows, 5) on the scores' device
        self._host: Any = None  # the buffer's first ``count`` steps on the host, read once when asked

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        if self._index is None or self._index.device != scores.device:
            self._index = _device_index(self.digit_ids, scores.device)  # once, outside a prepared loop
        if self._buffer is None or self.count == self._buffer.shape[0]:
            self._grow(scores)
        # log_softmax over the whole vocabulary in the scores' own dtype, as the official script takes it;
        # a device index and an integer step: no value leaves the device
        self._buffer[self.count] = torch.log_softmax(scores, dim=-1).index_select(1, self._index)
        self.count += 1
        self._host = None
        return scores

    def _grow(self, scores: Any) -> None:
        import torch

        size = self._capacity if self._buffer is None else 2 * self._buffer.shape[0]
        grown = torch.empty((size, scores.shape[0], len(self.digit_ids)), dtype=scores.dtype, device=scores.device)
        if self._buffer is not None:
            grown[:self.count] = self._buffer[:self.count]
        self._buffer = grown

    @property
    def steps(self) -> list[Any]:
        """One (rows × 5) tensor per recorded step (views of the device buffer)."""
        return [self._buffer[i] for i in range(self.count)]

    def logprobs(self, row: int, step: int | None) -> tuple[float, ...] | None:
        if step is None or step >= self.count:
            return None
        if self._host is None:
            self._host = self._buffer[:self.count].cpu()  # after generation: one copy for every lookup
        return tuple(self._host[step, row].tolist())


def _device_index(digit_ids: list[int], device: Any) -> Any:
    import torch

    return torch.tensor(digit_ids, dtype=torch.long, device=device)


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

        # each row's draw stays on the device: a (rows × 1) index tensor scattered into the forced scores
        tokens = torch.cat([torch.multinomial(torch.softmax(scores[row:row + 1], dim=-1), num_samples=1,
                                              generator=generator)
                            for row, generator in enumerate(self.generators)])
        return torch.full_like(scores, float("-inf")).scatter_(1, tokens, 0.0)
