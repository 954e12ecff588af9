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


# ---- animations whose frames say which they are --------------------------------------------------

COLOURS = ((255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (255, 0, 255), (0, 255, 255), (255, 255, 255),
           (0, 0, 0))  # exact in a GIF's default 3-3-2 palette, far apart after lossy WebP


def write_solid_frames(path: str | Path, colours: tuple[tuple[int, int, int], ...] = COLOURS,
                       size: tuple[int, int] = (64, 48), fps: float = 10.0, codec_args: tuple[str, ...] = ()) -> Path:
    """One frame per colour, each a solid fill, so a decoded frame tells which one it is (``which_colour``)."""
    import subprocess

    import imageio_ffmpeg

    w, h = size
    raw = b"".join(np.full((h, w, 3), c, dtype=np.uint8).tobytes() for c in colours)
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo",
                    "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", str(fps), "-i", "-", *codec_args, str(path)],
                   input=raw, check=True)
    return Path(path)


def which_colour(frame: np.ndarray, colours: tuple[tuple[int, int, int], ...] = COLOURS) -> int:
    """The index of the colour a (solid) frame is nearest to."""
    mean = frame.reshape(-1, 3).mean(axis=0)
    return int(np.argmin([np.abs(mean - np.array(c)).sum() for c in colours]))


def set_gif_delays(data: bytes, delays_cs: list[int]) -> bytes:
    """The GIF with each image's graphic-control delay replaced, in order (one control block per image)."""
    out = bytearray(data)
    at = [i for i in range(len(out) - 5) if out[i:i + 3] == b"\x21\xf9\x04"]
    assert len(at) == len(delays_cs), (len(at), len(delays_cs))
    for i, delay in zip(at, delays_cs):
        out[i + 4:i + 6] = delay.to_bytes(2, "little")
    return bytes(out)


def set_gif_screen(data: bytes, width: int, height: int) -> bytes:
    return data[:6] + width.to_bytes(2, "little") + height.to_bytes(2, "little") + data[10:]


def set_webp_durations(data: bytes, durations_ms: list[int]) -> bytes:
    """The animated WebP with each ANMF frame's duration replaced, in order."""
    import struct

    out, pos, k = bytearray(data), 12, 0
    while pos + 8 <= len(out):
        kind, size = struct.unpack_from("<4sI", out, pos)
        if kind == b"ANMF":
            out[pos + 20:pos + 23] = durations_ms[k].to_bytes(3, "little")
            k += 1
        pos += 8 + size + (size & 1)
    assert k == len(durations_ms), (k, len(durations_ms))
    return bytes(out)


def set_webp_canvas(data: bytes, width: int, height: int) -> bytes:
    at = data.index(b"VP8X") + 12  # fourcc, size, flags and 3 reserved bytes, then the canvas
    return data[:at] + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little") + data[at + 6:]
