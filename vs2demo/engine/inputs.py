"""Model inputs: a clip's frames and video tensors (prepared once, cached by content), and the batch generate()
or a teacher-forced pass receives.

Nothing here generates: ``model_inputs`` builds exactly the tensors the official procedure builds (prompt bytes,
video placeholder tokens, pixel values, temporal spacing), for any number of clips, left-padded into one batch.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vs2demo.engine.vision import ROW_PIXELS
from vs2demo.input.prompt import messages
from vs2demo.input.video import Frames


@dataclass(frozen=True, eq=False)
class PreparedClip:
    """Decoded frames and the processor's video tensors for one clip at one fps: reusable across prompts."""

    frames: Frames
    video_inputs: dict[str, Any]  # pixel_values_videos, video_grid_thw, second_per_grid_ts
    preprocess_s: float

    @property
    def nbytes(self) -> int:
        """Memory this clip holds: the decoded frames plus the processor's tensors."""
        return self.frames.array.nbytes + sum(t.nbytes for t in self.video_inputs.values() if hasattr(t, "nbytes"))


def file_digest(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


ClipKey = tuple[str, float]  # (content digest, fps)


@dataclass(frozen=True, eq=False)
class ReadyClip:
    """A job's prepared clip, or only where to find it: its cache key. Across a process boundary (a ZeroGPU
    worker is a fork of the server, which sees the cache as it was) the key travels, not the frames."""

    key: ClipKey
    cached: bool  # found in the cache rather than decoded for this request
    clip: PreparedClip | None = None

    def by_key(self) -> ReadyClip:
        return ReadyClip(self.key, self.cached)


class ClipCache:
    """Prepared clips, least recently used first out, bounded by entries and by total bytes (thread-safe)."""

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self._entries: OrderedDict[ClipKey, PreparedClip] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: ClipKey) -> PreparedClip | None:
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None:
                self._entries.move_to_end(key)
            return hit

    def put(self, key: ClipKey, prepared: PreparedClip) -> None:
        if prepared.nbytes > self.max_bytes:
            return  # alone over the budget: used for its run only
        with self._lock:
            self._entries[key] = prepared
            while len(self._entries) > self.max_entries or self._total() > self.max_bytes:
                self._entries.popitem(last=False)

    def _total(self) -> int:
        return sum(c.nbytes for c in self._entries.values())

    @property
    def nbytes(self) -> int:
        with self._lock:
            return self._total()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def video_inputs(processor: Any, frames: Frames) -> dict[str, Any]:
    """The processor's video tensors for already-resized frames, with the official temporal spacing."""
    import torch
    from transformers.video_utils import VideoMetadata

    n = len(frames.plan.indices)
    # qwen-vl-utils already resized the frames: do_resize=False keeps them as they are.
    # The official call (transformers 4.53.2, fps=2.0, no metadata) spaces temporal patches by
    # temporal_patch_size / fps seconds; transformers 5 derives that from metadata.sampled_fps,
    # so the metadata says exactly the requested fps (sampled_fps = n / n * fps).
    meta = VideoMetadata(total_num_frames=n, fps=frames.plan.fps, frames_indices=list(range(n)))
    tensor = torch.from_numpy(frames.array).permute(0, 3, 1, 2)
    out = processor.video_processor(
        videos=[tensor], video_metadata=[meta], do_resize=False, do_sample_frames=False, cap_pixels_per_frame=False,
        return_tensors="pt",
    )
    patch = processor.video_processor.temporal_patch_size
    return {
        "pixel_values_videos": out["pixel_values_videos"],
        "video_grid_thw": out["video_grid_thw"],
        "second_per_grid_ts": torch.tensor([patch / frames.plan.fps]),
    }


def model_inputs(processor: Any, prepared: Sequence[PreparedClip], prompts: Sequence[str],
                 allow_empty: bool = False) -> dict[str, Any]:
    """The tensors generate() receives for one or more clips (left-padded into one batch). ``allow_empty``
    lets an empty prompt through (the evidence probe's, never a visitor's)."""
    import torch

    merge = processor.video_processor.merge_size ** 2
    texts = []
    for clip, prompt in zip(prepared, prompts):
        chat = processor.apply_chat_template(
            messages(prompt, clip.frames.plan.info.path, clip.frames.plan.fps, allow_empty),
                                             tokenize=False, add_generation_prompt=True)
        n_tokens = int(clip.video_inputs["video_grid_thw"].prod()) // merge
        texts.append(chat.replace(processor.video_token, processor.video_token * n_tokens, 1))
    enc = processor.tokenizer(texts, return_tensors="pt", padding=True)
    enc["mm_token_type_ids"] = torch.tensor(processor.create_mm_token_type_ids(enc["input_ids"].tolist()))
    for key in ("video_grid_thw", "second_per_grid_ts"):
        parts = [c.video_inputs[key] for c in prepared]
        enc[key] = torch.cat(parts) if len(parts) > 1 else parts[0]
    pixels = [c.video_inputs["pixel_values_videos"] for c in prepared]
    if len(pixels) == 1:  # one row: the official inputs exactly, no copy of the pixels
        enc["pixel_values_videos"] = pixels[0]
    else:  # several rows: each row names its clip's one tensor; the vision encoder runs once per clip (vision.py)
        enc[ROW_PIXELS] = pixels
    return dict(enc)
