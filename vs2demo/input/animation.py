"""Animated images (GIF, animated WebP) as their headers describe them: canvas size, frame count and frame delays.

Read before any decoder sees the file, so the resolution, duration and frame-count limits apply to a GIF or a
WebP exactly as they do to an MP4. The walk skips each frame's compressed data by its length fields; nothing is
decompressed. Delays are counted as ffmpeg's demuxers time them (that is the reader these files go through): a
GIF delay of 0 lasts 10 hundredths of a second, a WebP frame of 10 ms or less lasts 100 ms.
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from vs2demo.input.container import HeaderError

GIF_DEFAULT_DELAY_CS = 10  # ffmpeg's gif demuxer: a delay of 0 becomes 10 hundredths of a second
WEBP_MIN_DELAY_MS = 10  # ffmpeg's webp_anim demuxer: a frame of 10 ms or less ...
WEBP_DEFAULT_DELAY_MS = 100  # ... lasts 100 ms
MAX_CHUNKS = 1_000_000  # bounds the WebP walk on hostile files made of empty chunks
# Encoders write GIF data in 255-byte pieces: a 512 MB GIF holds about 2 million, plus a few per image (at most
# 100,000 images within the limits). A hostile file of tiny pieces is refused after a second or two of walking.
MAX_GIF_BLOCKS = 4_000_000


@dataclass(frozen=True)
class Animation:
    width: int
    height: int
    frames: int
    duration_s: float

    @property
    def fps(self) -> float:
        """The mean frame rate: what a clip with these frames and this duration would declare."""
        return self.frames / self.duration_s if self.duration_s > 0 else 0.0


# ---- GIF ----------------------------------------------------------------------------------------


def _gif_delay_cs(delay: int) -> int:
    return GIF_DEFAULT_DELAY_CS if delay == 0 else delay


def _skip_sub_blocks(data: mmap.mmap | bytes, pos: int, budget: int) -> tuple[int, int]:
    """(position after, blocks walked) for a chain of GIF data sub-blocks (each a length byte, then that many
    bytes; 0 ends it), walking at most ``budget`` of them. A position past the end means the file is cut short."""
    end, blocks = len(data), 0
    while pos < end:
        n = data[pos]
        pos += 1 + n
        blocks += 1
        if n == 0:
            return pos, blocks
        if blocks > budget:
            raise HeaderError("its GIF data is split into more pieces than any encoder writes")
    return end + 1, blocks


def parse_gif(data: mmap.mmap | bytes) -> Animation:
    """The logical screen size, the number of images and the sum of their delays.

    A file cut short counts the images it holds whole: that is what a decoder can still show."""
    if len(data) < 13 or data[:3] != b"GIF":
        raise HeaderError("its GIF header is cut short")
    width, height, packed = struct.unpack_from("<HHB", data, 6)
    if width == 0 or height == 0:
        raise HeaderError("its GIF screen size is 0")
    pos = 13 + (3 * 2 ** ((packed & 7) + 1) if packed & 0x80 else 0)  # the global colour table
    frames, total_cs, delay, blocks = 0, 0, 0, 0
    while pos < len(data):
        block = data[pos]
        if block == 0x3B:  # trailer
            break
        if block == 0x21:  # extension: label, then sub-blocks
            if pos + 6 <= len(data) and data[pos + 1] == 0xF9 and data[pos + 2] == 4:  # graphic control
                delay = struct.unpack_from("<H", data, pos + 4)[0]
            pos, walked = _skip_sub_blocks(data, pos + 2, MAX_GIF_BLOCKS - blocks)
            blocks += walked
            if blocks > MAX_GIF_BLOCKS:  # endless empty extensions
                raise HeaderError("its GIF data is split into more pieces than any encoder writes")
        elif block == 0x2C:  # image descriptor: 9 bytes, a local colour table, the LZW code size, data
            if pos + 10 > len(data):
                break
            local = data[pos + 9]
            start = pos + 10 + (3 * 2 ** ((local & 7) + 1) if local & 0x80 else 0) + 1  # past the LZW code size
            pos, walked = _skip_sub_blocks(data, start, MAX_GIF_BLOCKS - blocks)
            blocks += walked
            if pos > len(data):
                break  # this image's data is cut short
            frames += 1
            total_cs += _gif_delay_cs(delay)
            delay = 0  # a control extension applies to the one image after it
        else:
            break  # not a GIF block: stop where a decoder would
    if frames == 0:
        raise HeaderError("it holds no whole GIF image")
    return Animation(width, height, frames, total_cs / 100)


# ---- WebP (RIFF) --------------------------------------------------------------------------------


def _webp_delay_ms(duration: int) -> int:
    return WEBP_DEFAULT_DELAY_MS if duration <= WEBP_MIN_DELAY_MS else duration


def _u24(raw: bytes, at: int) -> int:
    return int.from_bytes(raw[at:at + 3], "little")


def read_webp(f: BinaryIO, file_size: int) -> Animation:
    """The VP8X canvas, the number of ANMF frames and the sum of their durations; a still WebP is refused."""
    f.seek(0)
    head = f.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WEBP":
        raise HeaderError("its WebP header is cut short")
    end = min(file_size, 8 + struct.unpack_from("<I", head, 4)[0])
    pos, chunks = 12, 0
    canvas: tuple[int, int] | None = None
    animated = False
    frames, total_ms = 0, 0
    while pos + 8 <= end:
        chunks += 1
        if chunks > MAX_CHUNKS:
            raise HeaderError("its header is malformed")
        f.seek(pos)
        kind, size = struct.unpack("<4sI", f.read(8))
        if kind == b"VP8X":
            raw = f.read(10)
            if len(raw) < 10:
                raise HeaderError("its WebP header is cut short")
            animated = bool(raw[0] & 0x02)
            canvas = (_u24(raw, 4) + 1, _u24(raw, 7) + 1)
        elif kind in (b"VP8 ", b"VP8L") and canvas is None:
            raise HeaderError("it is a still WebP image, not an animation")
        elif kind == b"ANMF":
            raw = f.read(16)
            if len(raw) < 16 or pos + 8 + size > file_size:
                break  # this frame is cut short: count the whole ones
            frames += 1
            total_ms += _webp_delay_ms(_u24(raw, 12))
        pos += 8 + size + (size & 1)  # chunks are padded to even sizes
    if canvas is None:
        raise HeaderError("its WebP header has no canvas size")
    if not animated:
        raise HeaderError("it is a still WebP image, not an animation")
    if frames == 0:
        raise HeaderError("it holds no whole WebP frame")
    return Animation(canvas[0], canvas[1], frames, total_ms / 1000)


def read_gif(f: BinaryIO, file_size: int) -> Animation:
    """GIF blocks are chained by length bytes every 255 bytes: walked through a memory map, not read whole."""
    if file_size < 13:
        raise HeaderError("its GIF header is cut short")
    with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        return parse_gif(data)


READERS: dict[str, Callable[[BinaryIO, int], Animation]] = {"GIF": read_gif, "WebP": read_webp}
