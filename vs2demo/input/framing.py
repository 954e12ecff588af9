"""Which frames the model sees, and at what size: pure maths mirroring qwen-vl-utils 0.0.14 (vision_process.py).

Kept apart from the decoders so it can be tested in tables and shown before any decoding or GPU time.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

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

OFFICIAL_READER = "decord"  # what the official script reads clips with
FALLBACK_READER = "ffmpeg"  # imageio-ffmpeg's binary, for what decord cannot open (GIF, WebP, AV1): a deviation
TIME_BASE_SLACK_S = 0.002  # a frame's start as a container rounds it, at worst (see start_tolerance)


@dataclass(frozen=True)
class VideoInfo:
    path: str
    total_frames: int
    native_fps: float
    width: int
    height: int
    file_bytes: int
    reader: str = OFFICIAL_READER
    # each frame's start (s from the first frame's) where the reader picks frames by time; empty for decord,
    # which picks by index as the official script does
    frame_starts: tuple[float, ...] = field(default=(), repr=False, compare=False)

    @property
    def duration_s(self) -> float:
        return self.total_frames / self.native_fps

    @property
    def deviations(self) -> list[str]:
        """How reading this clip differs from the official run: only the reader can."""
        return [] if self.reader == OFFICIAL_READER else [f"read by {self.reader}, not the official {OFFICIAL_READER}"]


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
            "reader": self.info.reader,
            "fps": self.fps,
            "frame_count": len(self.indices),
            "indices": list(self.indices),
            "source_frames": list(source_frames(self)),  # the file's frames shown at those moments
            "timestamps_s": [round(t, 4) for t in self.timestamps],
            "resized_size": [self.resized_width, self.resized_height],
            "visual_tokens": self.visual_tokens,
        }

    @classmethod
    def from_dict(cls, d: dict) -> FramePlan:
        """The plan back from ``to_dict`` (a stored result), its reader included (a labelled deviation). The file's
        size and each frame's start time are not in the JSON: 0 and none."""
        width, height = d["source_size"]
        resized_width, resized_height = d["resized_size"]
        info = VideoInfo(d["video"], int(d["total_frames"]), float(d["native_fps"]), int(width), int(height), 0,
                         d.get("reader", OFFICIAL_READER))
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


def frames_at_times(starts: Sequence[float], times: Sequence[float], tolerance: float) -> tuple[int, ...]:
    """For each time, the frame on screen then: the last whose start is at or before it, or up to ``tolerance``
    after it (see ``start_tolerance``)."""
    return tuple(max(0, bisect.bisect_right(starts, t + tolerance) - 1) for t in times)


def start_tolerance(starts: Sequence[float]) -> float:
    """How late a frame may start and still count as on screen at a time: containers round each start to their
    time base (a 30 fps frame 2 starts at 67 ms in WebM's millisecond base, after 2/30 s), by up to a
    millisecond and a half with the duration's own rounding. Never half the shortest frame or more, so a short
    frame is never skipped."""
    gaps = [b - a for a, b in itertools.pairwise(starts) if b > a]
    return min(TIME_BASE_SLACK_S, 0.5 * min(gaps)) if gaps else TIME_BASE_SLACK_S


def source_frames(plan: FramePlan) -> tuple[int, ...]:
    """Which of the file's frames a plan's moments are. decord picks by index, as the official script does; a
    reader that knows each frame's start picks the frame on screen at each planned timestamp (index ÷ mean
    frame rate): for a constant-rate clip the same frame, for a GIF's uneven delays or a variable rate the
    frame shown at that moment."""
    if not plan.info.frame_starts:
        return plan.indices
    starts = plan.info.frame_starts
    return frames_at_times(starts, plan.timestamps, start_tolerance(starts))
