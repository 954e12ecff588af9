"""Generation on the model's decode thread: streamed text, the digit recorder, a stop flag, one summary at the end.

``stream_generate`` is the single entry: it yields text pieces while ``generate()`` runs on the decode thread and
returns a ``GenerationSummary`` (or raises what ``generate()`` raised). Closing it early, or setting ``stop``,
ends generation at the next token.
"""

from __future__ import annotations

import bisect
import queue
import threading
import time
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from vs2demo.analysis.parse import official_score_positions
from vs2demo.core.options import OFFICIAL_DECODE
from vs2demo.engine.decode_thread import DecodeThread
from vs2demo.engine.digits import DigitRecorder, RowSampler
from vs2demo.engine.events import Piece, Progress
from vs2demo.engine.static_cache import DecodeSettings
from vs2demo.engine.token_tap import TokenTap
from vs2demo.engine.vision import with_shared_features

# How the official script decodes when it looks for the score digits' steps: special tokens kept.
SOFT_SEARCH_DECODE = {"skip_special_tokens": False, "clean_up_tokenization_spaces": False}


class RowDecoder:
    """Decodes one row's tokens incrementally, recording where each token ends in the text.

    Pieces are decoded as soon as they form whole UTF-8 characters; byte-level BPE decodes by
    concatenation, so the pieces join to exactly ``tokenizer.decode(all_tokens)``. A character written with
    several tokens (a fullwidth "３", an Arabic-Indic "٣") is only whole after its last token: the tokens
    before it are marked incomplete, and ``token_ending_at`` never answers with one of them.
    """

    def __init__(self, tokenizer: Any, stop_ids: set[int], decode: dict[str, bool] = OFFICIAL_DECODE) -> None:
        self.tokenizer = tokenizer
        self.stop_ids = stop_ids
        self.decode = decode
        self.ids: list[int] = []
        self.char_end: list[int] = []
        self.complete: list[bool] = []  # the text decoded through this token ends on a whole character
        self.text = ""
        self._pending: list[int] = []
        self.finished = False

    def push(self, token: int) -> str:
        if self.finished:
            return ""
        self.ids.append(token)
        if token in self.stop_ids:
            self.finished = True
            self._end(len(self.text), True)
            return ""
        self._pending.append(token)
        piece = self.tokenizer.decode(self._pending, **self.decode)
        if piece.endswith("\ufffd"):  # an incomplete multi-byte character: wait for its other bytes
            # this token lies inside the character that starts after the whole ones decoded so far
            self._end(len(self.text) + len(piece.rstrip("\ufffd")) + 1, False)
            return ""
        self._pending = []
        self.text += piece
        self._end(len(self.text), True)
        return piece

    def _end(self, end: int, complete: bool) -> None:
        self.char_end.append(max(end, self.char_end[-1]) if self.char_end else end)  # kept sorted for bisect
        self.complete.append(complete)

    def token_at(self, char_pos: int) -> int | None:
        """Index of the (first) generated token that produced the character at ``char_pos``."""
        i = bisect.bisect_right(self.char_end, char_pos)
        return i if i < len(self.ids) else None

    def token_completing(self, char_pos: int) -> int | None:
        """Index of the token after which the character at ``char_pos`` is whole: its last token."""
        i = bisect.bisect_right(self.char_end, char_pos)
        while i < len(self.ids) and not self.complete[i]:
            i += 1
        return i if i < len(self.ids) else None

    def token_ending_at(self, end: int) -> int | None:
        """The first token after which the decoded text is exactly ``end`` characters long, every character
        whole: the step at which the official prefix re-decoding first equals the text's first ``end``."""
        i = bisect.bisect_left(self.char_end, end)
        while i < len(self.ids) and self.char_end[i] == end:
            if self.complete[i]:
                return i
            i += 1
        return None


def official_digit_steps(tokenizer: Any, ids: Sequence[int]) -> tuple[int | None, ...]:
    """Per dimension, the generation step the official soft score reads (None where it finds none).

    The official script decodes growing prefixes until one equals the text up to the score digit; byte-level
    BPE decodes by concatenation, so that step is the token whose decoded end falls exactly on the digit.
    """
    full = RowDecoder(tokenizer, set(), SOFT_SEARCH_DECODE)
    for token in ids:
        full.push(token)
    return tuple(None if pos is None else full.token_ending_at(pos + 1)
                 for pos in official_score_positions(full.text))


LogProbs = tuple[float, ...] | None


def row_digit_logprobs(decoded: RowDecoder, recorder: DigitRecorder, row: int) -> tuple[tuple[LogProbs, ...], Any]:
    """One row's digit log-probabilities: per dimension where the official soft score reads them, and a function
    giving them at any character of the text (for scores only the fallback parser finds). A digit written with
    several tokens is read at its last token, where it is whole, as the official search reads it."""
    official = tuple(recorder.logprobs(row, step) for step in official_digit_steps(decoded.tokenizer, decoded.ids))
    return official, lambda pos: recorder.logprobs(row, decoded.token_completing(pos))


RowKey = tuple[int, int]  # (job index, sample): which evaluation a batch row belongs to
PAD_KEY: RowKey = (-1, -1)  # a row that only fills the batch up to its bucket (static_cache.py): never told


@dataclass(frozen=True)
class Sampling:
    """What generate() is told, exactly as the official call tells it: do_sample and the temperature.

    Everything else (top-k, top-p, repetition penalty, …) generate() resolves from the checkpoint's
    generation config and its own defaults; see digits.py."""

    greedy: bool
    temperature: float
    max_new_tokens: int
    min_new_tokens: int = 0
    seeds: tuple[int, ...] | None = None  # one per row: each row samples from its own stream (digits.RowSampler)

    def generate_kwargs(self) -> dict[str, Any]:
        sampling: dict[str, Any] = {"do_sample": False} if self.greedy else {"do_sample": True,
                                                                             "temperature": self.temperature}
        return {**sampling, "max_new_tokens": self.max_new_tokens, "min_new_tokens": self.min_new_tokens or None}


@dataclass(frozen=True, eq=False)
class GenerationSummary:
    keys: tuple[RowKey, ...]
    rows: tuple[RowDecoder, ...]  # each row's token ids, text and token offsets
    recorder: DigitRecorder  # log p(1..5) at every step, every row
    seconds: float
    ttft_s: float | None  # from the start of generate() to the first token on the host
    stopped: bool  # ended early by the stop flag

    @classmethod
    def empty(cls) -> GenerationSummary:
        """The outcome of rows that never ran because the caller stopped first."""
        return cls((), (), DigitRecorder([]), 0.0, None, True)


class TextStream:
    """The consumer's side: decodes each step's tokens into its rows and gathers the pieces to tell.

    Pieces are told at most every FLUSH_S: waking the page for every token costs more than the decoding itself
    on fast models. Progress (rows finished) is only worth telling when a batch holds samples."""

    FLUSH_S = 0.02

    def __init__(self, tokenizer: Any, keys: Sequence[RowKey], stop_ids: set[int]) -> None:
        self.keys = tuple(keys)
        self.rows = tuple(RowDecoder(tokenizer, stop_ids) for _ in self.keys)
        self._pending = [""] * len(self.keys)
        self._last_flush = 0.0
        self._finished = 0
        self._sampled = any(sample > 0 for _, sample in self.keys)

    def push(self, tokens: Sequence[int]) -> Iterator[Progress]:
        for row, token in enumerate(tokens):
            self._pending[row] += self.rows[row].push(int(token))
        if self._sampled:
            real = [r for r, key in zip(self.rows, self.keys) if key != PAD_KEY]
            finished = sum(r.finished for r in real)
            if finished != self._finished:
                self._finished = finished
                yield Progress(finished, len(real))

    def pieces(self, force: bool = False) -> Iterator[Piece]:
        now = time.perf_counter()
        if not force and now - self._last_flush < self.FLUSH_S:
            return
        self._last_flush = now
        for (index, sample), text in zip(self.keys, self._pending):
            if text and (index, sample) != PAD_KEY:
                yield Piece(index, text, sample)
        self._pending = [""] * len(self._pending)


def stream_generate(model: Any, inputs: dict[str, Any], sampling: Sampling, *, tokenizer: Any, digit_ids: list[int],
                    stop_ids: set[int], stop: threading.Event, lock: threading.Lock,
                    keys: Sequence[RowKey] | None = None, thread: DecodeThread | None = None,
                    decode: DecodeSettings | None = None) -> Generator[Piece | Progress, None, GenerationSummary]:
    """Run ``model.generate`` on the model's decode thread under ``lock``, yielding pieces; return the summary.
    ``keys`` name each batch row's job and sample (default: one sample per row). The tokens arrive here by
    asynchronous copies (token_tap.py) and are decoded on this, the consumer's, thread."""
    handoff: queue.Queue = queue.Queue()
    done = object()
    keys = tuple(keys or ((row, 0) for row in range(int(inputs["input_ids"].shape[0]))))
    text = TextStream(tokenizer, keys, stop_ids)
    recorder = DigitRecorder(digit_ids, device=model.device, capacity=sampling.max_new_tokens)
    tap = TokenTap(handoff, stop, model.device, [key == PAD_KEY for key in keys])
    start = time.perf_counter()
    runner = thread or DecodeThread()
    outcome = runner.submit(_generate, model, inputs, sampling, recorder, tap, lock, decode or DecodeSettings())
    if thread is None:
        runner.close()  # a thread of its own for this call only: it ends after the job
    outcome.add_done_callback(lambda _: handoff.put(done))
    first_token_at: float | None = None
    try:
        while (item := handoff.get()) is not done:
            if first_token_at is None:
                first_token_at = time.perf_counter()
            yield from text.push(item.ready())
            yield from text.pieces()
        yield from text.pieces(force=True)
    finally:
        # The consumer may go away early (Gradio closes a generator on its event-loop thread when a visitor
        # leaves): ask the decode thread to stop and return at once; it frees the model itself.
        if not outcome.done():
            stop.set()
    outcome.result()  # raises what generate() raised
    seconds = time.perf_counter() - start
    ttft = first_token_at - start if first_token_at else None
    return GenerationSummary(keys, text.rows, recorder, seconds, ttft, stop.is_set())


def _generate(model: Any, inputs: dict[str, Any], sampling: Sampling, recorder: DigitRecorder, tap: TokenTap,
              lock: threading.Lock, decode: DecodeSettings) -> None:
    import torch
    from transformers import LogitsProcessorList, StoppingCriteriaList

    with lock, torch.inference_mode():
        last: list[Any] = [recorder]
        if sampling.seeds is not None and not sampling.greedy:
            last.append(RowSampler(list(sampling.seeds), model.device))
        device_inputs = {k: v.to(model.device) if hasattr(v, "to") else v for k, v in inputs.items()}
        if "pixel_values_videos" in device_inputs:
            device_inputs["pixel_values_videos"] = device_inputs["pixel_values_videos"].to(model.dtype)
        device_inputs = with_shared_features(model, device_inputs)  # several rows: each clip encoded once
        model.generate(
            **device_inputs,
            **sampling.generate_kwargs(),
            **decode.generate_kwargs(int(device_inputs["input_ids"].shape[1]), sampling.max_new_tokens),
            use_cache=True,  # the checkpoint may say False; the cache changes speed, never output
            logits_processor=LogitsProcessorList(last),  # moved behind generate()'s own (digits.py)
            stopping_criteria=StoppingCriteriaList([tap]),
        )
