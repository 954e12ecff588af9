"""Which frames the model sees, and at what size: pure maths mirroring qwen-vl-utils 0.0.14 (vision_process.py).

Kept apart from the decoders so it can be tested in tables and shown before any decoding or GPU time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from vs2demo.core.errors import InputError
from vs2demo.core.options import OFFICIAL_FPS

# qwen-vl-utils 0.0.14 constants, for Qwen2.5-VL's 14 px patches merged 2x2.
PATCH = 14
FACTOR = PATCH * 2  # 28: every resized side is a multiple of this
FRAME_FACTOR = 2  # frames come in pairs (one temporal patch)
MIN_FRAMES = 4
MAX_FRAMES = 768
VIDEO_MIN_PIXELS = 128 * FACTOR * FACTOR
VIDEO_MAX_PIXELS = 768 * FACTOR * FACTOR
MAX_RATIO = 200
MODEL_SEQ_LEN = 128000  # qwen-vl-utils reads $MODEL_SEQ_LEN; the official run leaves it unset
TOTAL_PIXELS = MODEL_SEQ_LEN * FACTOR * FACTOR * 0.9


@dataclass(frozen=True)
class VideoInfo:
    path: str
    total_frames: int
    native_fps: float
    width: int
    height: int
    file_bytes: int

    @property
    def duration_s(self) -> float:
        return self.total_frames / self.native_fps


@dataclass(frozen=True)
class FramePlan:
    """Which frames the model sees and at what size: everything needed to show it before decoding."""

    info: VideoInfo
    fps: float
    indices: tuple[int, ...]
    resized_height: int
    resized_width: int

    @property
    def timestamps(self) -> tuple[float, ...]:
        return tuple(i / self.info.native_fps for i in self.indices)

    @property
    def visual_tokens(self) -> int:
        grid_t = math.ceil(len(self.indices) / FRAME_FACTOR)
        return grid_t * (self.resized_height // FACTOR) * (self.resized_width // FACTOR)

    def to_dict(self) -> dict:
        return {
            "video": self.info.path,  # not "path": API clients take a dict with "path" for a file
            "native_fps": self.info.native_fps,
            "total_frames": self.info.total_frames,
            "duration_s": round(self.info.duration_s, 4),
            "source_size": [self.info.width, self.info.height],
            "fps": self.fps,
            "frame_count": len(self.indices),
            "indices": list(self.indices),
            "timestamps_s": [round(t, 4) for t in self.timestamps],
            "resized_size": [self.resized_width, self.resized_height],
            "visual_tokens": self.visual_tokens,
        }

    @classmethod
    def from_dict(cls, d: dict) -> FramePlan:
        """The plan back from ``to_dict`` (a stored result). The file's size is not in the JSON: 0."""
        width, height = d["source_size"]
        resized_width, resized_height = d["resized_size"]
        info = VideoInfo(d["video"], int(d["total_frames"]), float(d["native_fps"]), int(width), int(height), 0)
        return cls(info, float(d["fps"]), tuple(int(i) for i in d["indices"]), int(resized_height), int(resized_width))

# ---- pure frame maths ------------------------------------------------------------------------


def _round_by(x: float, f: int) -> int:
    return round(x / f) * f


def _ceil_by(x: float, f: int) -> int:
    return math.ceil(x / f) * f


def _floor_by(x: float, f: int) -> int:
    return math.floor(x / f) * f


def frame_count(total_frames: int, native_fps: float, fps: float) -> int:
    """qwen-vl-utils' smart_nframes for an ``fps`` request."""
    min_frames = _ceil_by(MIN_FRAMES, FRAME_FACTOR)
    max_frames = _floor_by(min(MAX_FRAMES, total_frames), FRAME_FACTOR)
    n = total_frames / native_fps * fps
    n = _floor_by(min(min(max(n, min_frames), max_frames), total_frames), FRAME_FACTOR)
    if not FRAME_FACTOR <= n <= total_frames:
        raise InputError(f"The clip has only {total_frames} frame(s); at least {FRAME_FACTOR} are needed.")
    return n


def frame_indices(total_frames: int, n: int) -> tuple[int, ...]:
    """Evenly spaced indices, rounded exactly as torch.linspace(...).round() does in qwen-vl-utils."""
    import torch  # torch's float32 linspace and half-to-even rounding are what we must match

    return tuple(torch.linspace(0, total_frames - 1, n).round().long().tolist())


def per_frame_max_pixels(n: int) -> float:
    """The per-frame pixel budget: 768 tokens, less when the whole clip would pass the total budget."""
    return max(min(VIDEO_MAX_PIXELS, TOTAL_PIXELS / n * FRAME_FACTOR), int(VIDEO_MIN_PIXELS * 1.05))


def smart_resize(height: int, width: int, min_pixels: float, max_pixels: float) -> tuple[int, int]:
    """qwen-vl-utils' smart_resize: aspect kept, sides multiples of 28, pixels within the budget."""
    if max(height, width) / min(height, width) > MAX_RATIO:
        raise InputError(f"The clip's aspect ratio is {width}×{height}; it must be under {MAX_RATIO}:1.")
    h = max(FACTOR, _round_by(height, FACTOR))
    w = max(FACTOR, _round_by(width, FACTOR))
    if h * w > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h, w = _floor_by(height / beta, FACTOR), _floor_by(width / beta, FACTOR)
    elif h * w < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h, w = _ceil_by(height * beta, FACTOR), _ceil_by(width * beta, FACTOR)
    return h, w


def frame_geometry(info: VideoInfo, fps: float = OFFICIAL_FPS) -> tuple[int, int, int]:
    """How many frames the model sees and their resized (height, width): the plan without its frame indices,
    which need torch."""
    n = frame_count(info.total_frames, info.native_fps, fps)
    h, w = smart_resize(info.height, info.width, VIDEO_MIN_PIXELS, per_frame_max_pixels(n))
    return n, h, w


def plan_frames(info: VideoInfo, fps: float = OFFICIAL_FPS) -> FramePlan:
    n, h, w = frame_geometry(info, fps)
    return FramePlan(info, fps, frame_indices(info.total_frames, n), h, w)
