"""The scorer seam answered by the real model, through the engine's interface only: teacher-forced passes
(``Engine.rescore``), the vision tower (``Engine.encode_video``) and paired re-generations (the evaluator's own
generate_stream, with the clip's tensors altered), each visual built only when its chunk runs.

The vision tower attends within a temporal group only (its window and full attention are both cut per group), so a
group's merged tokens depend on that group's pixels alone. Each distinct group (the clip's, the mean-colour fill's,
a frozen neighbour's, the constant clip's) is encoded once and its tokens kept; a variant's video features are
spliced from them, and the tower never runs twice on the same pixels for a re-scoring pass (re-generations
still encode their clip through generate()).
"""

from __future__ import annotations

import hashlib
import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from vs2demo.analysis.parse import parse_scores
from vs2demo.analysis.result import Result
from vs2demo.core.errors import GenerationError
from vs2demo.engine.events import Finished, Job
from vs2demo.engine.generation import RowDecoder, Sampling, official_digit_steps
from vs2demo.engine.inputs import PreparedClip, ReadyClip, file_digest
from vs2demo.engine.interface import Engine
from vs2demo.engine.rescore import Rescored, Variant
from vs2demo.evidence.scorer import Base, Fill, Pass, Subject, Visual
from vs2demo.evidence.total_effect import Draw
from vs2demo.input.framing import FRAME_FACTOR
from vs2demo.input.video import Frames

SHUFFLE_SEED = 0  # the shuffled-frames probe uses one fixed permutation


@dataclass(frozen=True)
class ModelScorer:
    """Explain with ``evaluator``'s model (loaded on first use)."""

    evaluator: Any

    def open(self, result: Result) -> ModelSession:
        self.evaluator.load()
        return ModelSession(self.evaluator, result)


class ModelSession:
    def __init__(self, evaluator: Any, result: Result) -> None:
        self.evaluator, self.result = evaluator, result
        self.engine: Engine = evaluator.engine
        self.key = (file_digest(result.video), result.plan.fps)  # read once: the upload may be pruned later
        self.clip, _ = evaluator.prepare(result.video, result.plan.fps, key=self.key)
        decoder = self.engine.decode(result.token_ids)
        groups = int(self.clip.video_inputs["video_grid_thw"][0, 0])
        self.subject = Subject(tuple(result.token_ids), _digit_steps(decoder, result.raw_output),
                               tuple(decoder.char_end), groups, len(self.clip.frames.array))
        o = result.options
        self.sampling = Sampling(o.greedy, o.temperature, o.max_new_tokens, o.min_new_tokens)
        self.groups: dict[bytes, Any] = {}  # a temporal group's pixels (digest) -> its merged tokens
        self._clip_keys: list[bytes] | None = None

    # -- visuals --

    def frames(self, visual: Visual) -> Any:
        """The sampled frames (uint8, T×H×W×3) a visual stands for."""
        import numpy as np

        array = self.clip.frames.array
        mean_colour = self.engine.fill_colour()
        if visual.base is Base.CONSTANT:
            out = np.empty_like(array)
            out[...] = np.round(array.reshape(-1, 3).mean(axis=0)).astype(np.uint8)
        elif visual.base is Base.REVERSED:
            out = array[::-1].copy()
        elif visual.base is Base.SHUFFLED:
            order = list(range(len(array)))
            random.Random(SHUFFLE_SEED).shuffle(order)
            out = array[order].copy()
        else:
            out = array.copy()
        for a, b in visual.hidden:
            if visual.fill is Fill.FROZEN and (a > 0 or b < len(out)):
                out[a:b] = out[a - 1] if a > 0 else out[b]
            else:
                out[a:b] = mean_colour
        return out

    def pixels(self, visual: Visual) -> Any:
        return self._rows(visual)[0]

    def _rows(self, visual: Visual) -> tuple[Any, list[bytes]]:
        """The processor's pixel rows for a visual, and each temporal group's digest. Only the groups whose frames
        differ from the clip's go through the processor (its normalisation is per pixel, so a group's rows depend on
        its own two frames alone); the rest are the clip's rows."""
        import numpy as np

        pixels = self.clip.video_inputs["pixel_values_videos"]
        groups = self.subject.groups
        rows = pixels.shape[0] // groups
        if self._clip_keys is None:
            self._clip_keys = [_digest(pixels[g * rows:(g + 1) * rows]) for g in range(groups)]
        if visual == Visual():
            return pixels, self._clip_keys
        frames, clip_frames = self.frames(visual), self.clip.frames.array
        changed = [g for g in range(groups) if not np.array_equal(frames[g * FRAME_FACTOR:(g + 1) * FRAME_FACTOR],
                                                                  clip_frames[g * FRAME_FACTOR:(g + 1) * FRAME_FACTOR])]
        if not changed:
            return pixels, self._clip_keys
        picked = np.concatenate([frames[g * FRAME_FACTOR:(g + 1) * FRAME_FACTOR] for g in changed])
        plan = replace(self.clip.frames.plan, indices=self.clip.frames.plan.indices[:len(picked)])
        new = self.engine.video_tensors(Frames(plan, picked, 0.0))["pixel_values_videos"]
        out, keys = pixels.clone(), list(self._clip_keys)
        for i, g in enumerate(changed):
            out[g * rows:(g + 1) * rows] = new[i * rows:(i + 1) * rows]
            keys[g] = _digest(new[i * rows:(i + 1) * rows])
        return out, keys

    def features(self, visual: Visual) -> Any:
        """The vision tower's merged tokens for a visual, spliced per temporal group from the groups encoded so
        far; groups never seen are encoded together in one call to the tower (on the model's device)."""
        import torch

        pixels, keys = self._rows(visual)
        grid = self.clip.video_inputs["video_grid_thw"]
        groups, h, w = (int(x) for x in grid[0])
        rows = pixels.shape[0] // groups
        missing = list(dict.fromkeys(k for k in keys if k not in self.groups))
        if missing:
            first = {k: keys.index(k) for k in missing}
            batch = torch.cat([pixels[first[k] * rows:(first[k] + 1) * rows] for k in missing])
            tokens = self.engine.encode_video(batch, len(missing), h, w)
            per = tokens.shape[0] // len(missing)
            for i, k in enumerate(missing):
                self.groups[k] = tokens[i * per:(i + 1) * per]
        return torch.cat([self.groups[k] for k in keys])

    def _clip(self, visual: Visual) -> PreparedClip:
        return PreparedClip(self.clip.frames, {**self.clip.video_inputs, "pixel_values_videos": self.pixels(visual)},
                            0.0)

    # -- the seam --

    def rescore(self, passes: Sequence[Pass]) -> list[Rescored]:
        """One pass (the engine holds the model's lock for it: a visitor's run waits for one pass at most)."""
        built = {v: self.features(v) for v in dict.fromkeys(p.visual for p in passes)}  # this chunk's only
        variants = [Variant(None, p.prompt, p.ids, p.digit_steps, p.want_tokens, built[p.visual]) for p in passes]
        return self.engine.rescore(self.clip, variants, self.sampling)

    def regenerate(self, conditions: Sequence[tuple[Visual, str]], seeds: Sequence[int],
                   stop: threading.Event) -> list[list[Draw]]:
        """Every condition re-generated once per seed (K rows each, one batch; the evaluator chunks it by memory)."""
        ev, result = self.evaluator, self.result
        options = replace(result.options, seed=seeds[0], samples=len(seeds))
        jobs = [Job(result.video, prompt) for _, prompt in conditions]
        ready = [ReadyClip(self.key, False, self._clip(visual)) for visual, _ in conditions]
        for event in ev.generate_stream(jobs, options, ready, stop):  # takes the model's lock per chunk
            if isinstance(event, Finished):
                return [[Draw(tuple(s.hard for s in r.scores), tuple(s.soft for s in r.scores)) for r in samples]
                        for samples in event.samples]
        raise GenerationError("re-generation ended without a result")

    def chunk_size(self, count: int, generating: bool, rows_each: int = 1) -> int:
        """How many passes (or conditions of ``rows_each`` re-generated rows) to run at once."""
        if not str(self.engine.info.device).startswith("cuda"):
            return 1  # on CPU a batch costs its rows' sum: in turn keeps memory flat and progress fine-grained
        tokens = self.result.options.max_new_tokens if generating else len(self.subject.ids)
        rows = self.engine.rows_per_pass(count * rows_each, self.clip.frames.plan.visual_tokens, tokens,
                                         rescoring=not generating)
        return max(1, rows // rows_each)


def _digest(rows: Any) -> bytes:
    return hashlib.blake2b(rows.numpy().tobytes(), digest_size=16).digest()


def _digit_steps(decoder: RowDecoder, raw: str) -> tuple[int | None, ...]:
    """The official steps of the score digits; where the official search finds none, the token that completes the
    parsed digit (its last, for a digit written with several tokens)."""
    official = official_digit_steps(decoder.tokenizer, decoder.ids)
    parsed = parse_scores(raw).digit_pos
    return tuple(s if s is not None else (None if p is None else decoder.token_completing(p))
                 for s, p in zip(official, parsed))
