"""The engine on a transformers Qwen2.5-VL: the model and its processor behind the ``Engine`` interface.

It prepares the loaded model once (the official rope positions, our processors run last, left padding), owns the
lock that lets one generation or re-scoring pass run at a time and the model's one decode thread, and sizes
batches from the memory free now. Every transformers internal it needs goes through hf_internals.py.
"""

from __future__ import annotations

import threading
from collections.abc import Generator, Sequence
from dataclasses import replace
from typing import Any

from vs2demo.analysis.result import ModelInfo
from vs2demo.core.dimensions import SCORE_VALUES
from vs2demo.core.errors import ModelLoadError
from vs2demo.engine import rope
from vs2demo.engine.batching import free_bytes, model_row_bytes, rows_per_chunk
from vs2demo.engine.budget import RequestCost, device_budget, model_vision_bytes, request_cost
from vs2demo.engine.decode_thread import DecodeThread
from vs2demo.engine.events import Piece, Progress, Status
from vs2demo.engine.generation import (
    PAD_KEY,
    GenerationSummary,
    RowDecoder,
    RowKey,
    Sampling,
    stream_generate,
)
from vs2demo.engine.hf_internals import run_marked_processors_last
from vs2demo.engine.inputs import PreparedClip, model_inputs, video_inputs
from vs2demo.engine.rescore import Rescored, Variant, rescore
from vs2demo.engine.static_cache import DecodeSettings, batch_bucket
from vs2demo.input.framing import FramePlan
from vs2demo.input.video import Frames


class HFEngine:
    """A loaded Qwen2.5-VL checkpoint (or the smoke model, or a model built elsewhere: ``HFEngine(model, ...)``)."""

    def __init__(self, model: Any, processor: Any, info: ModelInfo, decode: DecodeSettings | None = None) -> None:
        rope.install(model)  # transformers 4.53.2's positions for long clips (see rope.py)
        run_marked_processors_last(model)  # p(1..5) from the scores generate() samples (digits.py)
        processor.tokenizer.padding_side = "left"  # generation continues on the right
        self.model, self.processor = model, processor
        self.decode_settings = decode or DecodeSettings()
        self.info = ModelInfo(info.model_id, info.device, info.dtype, info.smoke, info.load_s,
                              self.decode_settings.deviations())
        self.lock = threading.Lock()  # one generation or re-scoring pass at a time on the shared model
        self.decode_thread = DecodeThread()  # every generate() on one thread: compiled graphs stay valid
        self.tokenizer = processor.tokenizer
        self.digit_ids = _digit_ids(self.tokenizer)
        self.stop_ids = _stop_ids(model, self.tokenizer)

    # -- inputs --

    def video_tensors(self, frames: Frames) -> dict[str, Any]:
        return video_inputs(self.processor, frames)

    def fill_colour(self) -> Any:
        import numpy as np

        return np.round(np.asarray(self.processor.video_processor.image_mean) * 255).astype(np.uint8)

    def encode_video(self, pixels: Any, groups: int, height: int, width: int) -> Any:
        import torch

        with self.lock, torch.inference_mode():
            grid = torch.tensor([[groups, height, width]], device=self.model.device)
            out = self.model.model.get_video_features(pixels.to(self.model.device, self.model.dtype), grid)
        return out.pooler_output[0]

    def model_inputs(self, clips: Sequence[PreparedClip], prompts: Sequence[str]) -> dict[str, Any]:
        """The tensors generate() receives for one or more clips (left-padded into one batch)."""
        return model_inputs(self.processor, clips, prompts)

    # -- generation and re-scoring --

    def generate(self, clips: Sequence[PreparedClip], prompts: Sequence[str], sampling: Sampling,
                 keys: Sequence[RowKey], stop: threading.Event) -> Generator[Piece | Progress, None, GenerationSummary]:
        if self.decode_settings.static and self.decode_settings.compiled:
            clips, prompts, sampling, keys = _fill_bucket(clips, prompts, sampling, keys)
        return (yield from stream_generate(
            self.model, self.model_inputs(clips, prompts), sampling, tokenizer=self.tokenizer,
            digit_ids=self.digit_ids, stop_ids=self.stop_ids, stop=stop, lock=self.lock, keys=keys,
            thread=self.decode_thread, decode=self.decode_settings))

    def rescore(self, clip: PreparedClip, variants: Sequence[Variant], sampling: Sampling) -> list[Rescored]:
        with self.lock:  # one pass at a time: a visitor's run waits for one pass at most
            return rescore(self.model, self.processor, clip, variants, sampling, self.digit_ids)

    def decode(self, ids: Sequence[int]) -> RowDecoder:
        decoder = RowDecoder(self.tokenizer, set())
        for token in ids:
            decoder.push(token)
        return decoder

    def rows_per_pass(self, rows: int, visual_tokens: int, new_tokens: int, rescoring: bool = False) -> int:
        if rescoring and not self.info.device.startswith("cuda"):
            return 1  # on CPU a batch costs its rows' sum: in turn keeps memory flat and progress fine-grained
        per_row = model_row_bytes(self.model, visual_tokens, new_tokens)
        return rows_per_chunk(rows, free_bytes(self.info.device), per_row)

    def request_cost(self, plans: Sequence[FramePlan], rows: int, new_tokens: int) -> RequestCost:
        per_row = model_row_bytes(self.model, max(p.visual_tokens for p in plans), new_tokens)
        return request_cost(plans, rows, per_row, [model_vision_bytes(self.model, p) for p in plans])

    def memory_budget(self) -> int:
        return device_budget(self.info.device)

    def warm_up(self) -> Generator[Status, None, None]:
        from vs2demo.engine.warmup import warm_up

        yield from warm_up(self)

    def wait_idle(self, timeout: float) -> bool:
        if self.lock.acquire(timeout=timeout):
            self.lock.release()
            return True
        return False


def _fill_bucket(clips: Sequence[PreparedClip], prompts: Sequence[str], sampling: Sampling, keys: Sequence[RowKey]
                 ) -> tuple[list[PreparedClip], list[str], Sampling, list[RowKey]]:
    """Rows added to reach the batch's bucket, so a compiled step recorded for that size is replayed: copies of the
    last row, never told (PAD_KEY) and done from their first step (token_tap.py)."""
    extra = batch_bucket(len(keys)) - len(keys)
    seeds = None if sampling.seeds is None else (*sampling.seeds, *[sampling.seeds[-1]] * extra)
    return ([*clips, *[clips[-1]] * extra], [*prompts, *[prompts[-1]] * extra], replace(sampling, seeds=seeds),
            [*keys, *[PAD_KEY] * extra])


def _digit_ids(tokenizer: Any) -> list[int]:
    ids = [tokenizer.convert_tokens_to_ids(str(s)) for s in SCORE_VALUES]
    if any(i is None or i == tokenizer.unk_token_id for i in ids):
        raise ModelLoadError("The tokenizer has no single tokens for the digits 1-5; is this VideoScore2?")
    return ids


def _stop_ids(model: Any, tokenizer: Any) -> set[int]:
    eos = model.generation_config.eos_token_id
    ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    if tokenizer.pad_token_id is not None:
        ids.add(tokenizer.pad_token_id)
    return ids
