"""Synthetic clips for tests, examples and the benchmark, written with imageio-ffmpeg's own ffmpeg."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

Painter = Callable[[int, int, int, float], np.ndarray]  # (frame index, height, width, seconds) -> H×W×3


def moving_square(i: int, h: int, w: int, t: float) -> np.ndarray:
    """A gradient background with a square crossing it: detail and motion, cheap to encode."""
    y = np.linspace(0, 255, h, dtype=np.float32)[:, None]
    x = np.linspace(0, 255, w, dtype=np.float32)[None, :]
    frame = np.empty((h, w, 3), dtype=np.uint8)
    frame[..., 0] = (x + 40 * t) % 256
    frame[..., 1] = y
    frame[..., 2] = (x + y) / 2
    s = max(2, min(h, w) // 5)
    cx = int((w - s) * (0.5 + 0.5 * np.sin(t * 2)))
    cy = int((h - s) * (0.5 + 0.5 * np.cos(t * 3)))
    frame[cy:cy + s, cx:cx + s] = (255, 255, 255)
    return frame


def ensure_clip(path: Path, seconds: float, fps: float = 24.0, size: tuple[int, int] = (320, 240)) -> Path:
    """``path`` as it is when it exists, else written by ``write_clip`` (benchmarks reuse their clips)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_clip(path, seconds, fps, size)
    return path


def write_clip(path: str | Path, seconds: float, fps: float = 24.0, size: tuple[int, int] = (320, 240),
               painter: Painter = moving_square, codec: str = "libx264", quality: int | None = 7) -> Path:
    """Encode ``seconds`` of ``painter`` frames at ``size`` (width, height) and ``fps``."""
    import imageio_ffmpeg

    w, h = size
    n = max(1, round(seconds * fps))
    path = Path(path)
    kw = dict(fps=fps, codec=codec, quality=quality, macro_block_size=1, ffmpeg_log_level="error")
    if codec == "libx264":
        kw["pix_fmt_out"] = "yuv420p" if w % 2 == 0 and h % 2 == 0 else "yuv444p"
    writer = imageio_ffmpeg.write_frames(str(path), (w, h), **kw)
    writer.send(None)
    for frame in _frames(painter, n, h, w, fps):
        writer.send(np.ascontiguousarray(frame))
    writer.close()
    return path


def _frames(painter: Painter, n: int, h: int, w: int, fps: float) -> Iterator[np.ndarray]:
    for i in range(n):
        yield painter(i, h, w, i / fps)
