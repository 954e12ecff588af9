"""Clips: probe (headers first, limits before any decoding), then read only the planned frames.

The reader decodes the frames ``framing.plan_frames`` chose with decord and resizes each batch as it goes, so a
long 1080p clip never sits in memory at full size. The plan itself (which frames, what size) is
``framing``'s: callers take plans from there and frames from here.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vs2demo.core.errors import InputError
from vs2demo.core.options import OFFICIAL_FPS, Limits
from vs2demo.input import ffmpeg_reader
from vs2demo.input.animation import READERS as ANIMATIONS
from vs2demo.input.container import HeaderError, declared_frame_size
from vs2demo.input.framing import (
    FALLBACK_READER,
    OFFICIAL_READER,
    FramePlan,
    VideoInfo,
    plan_frames,
)

log = logging.getLogger(__name__)

READ_BATCH = 2  # frames decoded at once before resizing: bounds peak memory at full resolution
THUMB_HEIGHT = 96  # px: the strip of frames a page shows


@dataclass(frozen=True, eq=False)
class Frames:
    """The decoded, resized frames (uint8, T×H×W×3) with the plan that chose them."""

    plan: FramePlan
    array: np.ndarray
    decode_s: float


def _check_file_size(size: int, limits: Limits) -> None:
    if size > limits.max_file_bytes:
        raise InputError(f"The file is {size / 1e6:.1f} MB; the limit is {limits.max_file_mb:g} MB.")


def check_limits(info: VideoInfo, limits: Limits) -> None:
    _check_file_size(info.file_bytes, limits)
    if info.duration_s > limits.max_duration_s:
        raise InputError(f"The clip lasts {info.duration_s:.1f} s; the limit is {limits.max_duration_s:g} s.")
    if max(info.width, info.height) > limits.max_side_px:
        raise InputError(
            f"The clip is {info.width}×{info.height}; the limit is {limits.max_side_px} px on the longer side."
        )
    if info.total_frames > limits.max_total_frames:
        raise InputError(f"The clip has {info.total_frames} frames; the limit is {limits.max_total_frames}.")


# ---- I/O ----------------------------------------------------------------------------------------


_MUTE_LOCK = threading.Lock()
_decoder_log_quiet = False


@contextlib.contextmanager
def quiet_decoder() -> Iterator[None]:
    """Silence the decoder while it opens a file: the user gets our one-line message instead.

    ffmpeg's own log is turned off once, process-wide, through decord's setting. decord's C++ layer still
    writes an "ERROR opening" line straight to fd 2 for some files, so fd 2 points at /dev/null for the few
    milliseconds of the call. Saving and restoring fd 2 from two threads at once can leave it pointing at
    /dev/null for good, so the redirect is serialised under one lock.
    """
    global _decoder_log_quiet
    import decord

    with _MUTE_LOCK:
        if not _decoder_log_quiet:
            decord.logging.set_level(decord.logging.QUIET)
            _decoder_log_quiet = True
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            with open(os.devnull, "wb") as null:
                os.dup2(null.fileno(), 2)
                yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _open(path: str):
    import decord

    try:
        with quiet_decoder():
            return decord.VideoReader(path, ctx=decord.cpu(0), num_threads=1)
    except Exception as exc:  # decord raises its own error types, and RuntimeError for some files
        # never echo the server-side path of an upload, only its name
        raise InputError(f"{Path(path).name} cannot be read as a video: {_short(exc, path)}.") from _detached(exc)


def _detached(exc: BaseException) -> BaseException:
    """The decoder's exception without its traceback: decord's frames hold the reader (their ``self``), and with it
    the decoder and its frame buffers, for as long as anyone keeps our error (a log record, the web framework). A
    refused 16000² stream kept gigabytes alive that way. The cause's message stays."""
    exc.__traceback__ = None
    return exc


_DECORD_PREFIX = re.compile(r"\[[\d:]+\] \S+:\d+: ")


def _short(exc: Exception, path: str) -> str:
    """decord's messages carry a timestamp, a source path and internals; keep what a user can act on.

    The file's own path becomes its name before anything is cut: a server path must never show."""
    text = _DECORD_PREFIX.sub("", str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
    text = text.replace(path, Path(path).name)
    if "video stream" in text:  # decord says so of a stream whose codec it lacks, too
        return "it has no video stream the decoder can read"
    if "from_size == to_size" in text or "DECORDArrayCopy" in text:
        return "its frames have a layout the decoder cannot copy (odd width or height?); re-encode it as H.264 MP4"
    if "duration/frame-count" in text:
        return "the decoder cannot count its frames"
    return text[:160]


# Leading bytes of the containers ffmpeg (inside decord) reads. Checking content, not the file name,
# refuses images, audio and random bytes with a clear message before the decoder sees them.
_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"GIF8", "GIF"),
    (4, b"ftyp", "MP4/MOV"), (4, b"moov", "MOV"), (4, b"mdat", "MOV"), (4, b"wide", "MOV"), (4, b"free", "MOV"),
    (0, b"\x1a\x45\xdf\xa3", "Matroska/WebM"), (0, b"RIFF", "AVI"),
    (0, b"FLV", "FLV"), (0, b"OggS", "Ogg"), (0, b"\x00\x00\x01\xba", "MPEG-PS"), (0, b"\x47", "MPEG-TS"),
    (0, b"\x30\x26\xb2\x75", "ASF/WMV"),
)
_NOT_VIDEO: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG", "is a PNG image, not a video"), (b"\xff\xd8\xff", "is a JPEG image, not a video"),
    (b"ID3", "is an MP3 audio file, not a video"), (b"\xff\xfb", "is an MP3 audio file, not a video"),
    (b"fLaC", "is a FLAC audio file, not a video"), (b"%PDF", "is a PDF document, not a video"),
    (b"PK\x03\x04", "is a ZIP archive, not a video"),
)


def sniff_container(path: Path) -> str:
    """Name the container from the file's first bytes, or raise InputError saying what the file looks like."""
    with open(path, "rb") as f:
        head = f.read(16)
    for prefix, what in _NOT_VIDEO:
        if head.startswith(prefix):
            raise InputError(f"{path.name} {what}.")
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "WebP"
    if head.startswith(b"RIFF") and head[8:12] != b"AVI ":
        raise InputError(f"{path.name} is a RIFF file ({head[8:12].decode('latin-1').strip()}), not a video.")
    for offset, magic, kind in _SIGNATURES:
        if head[offset:offset + len(magic)] == magic:
            return kind
    raise InputError(f"{path.name} is not a video file this app can read (MP4, MOV, WebM, MKV, AVI, GIF, WebP).")


@dataclass(frozen=True)
class Declared:
    """What a clip's headers say before any decoder sees it."""
    width: int
    height: int
    whole_frames: int | None = None  # an animation's whole frames (GIF, WebP): a last one cut short is not counted


def _declared(path: Path, kind: str, limits: Limits) -> Declared:
    """The frame size the container declares; an over-limit one is refused from the headers alone, as a decoder
    would allocate it before anything else."""
    file_bytes = path.stat().st_size
    whole = None
    try:
        with open(path, "rb") as f:
            if kind in ANIMATIONS:  # GIF, WebP: the canvas, frame count and delays are all in the headers
                anim = ANIMATIONS[kind](f, file_bytes)
                check_limits(VideoInfo(str(path), anim.frames, anim.fps, anim.width, anim.height, file_bytes), limits)
                size: tuple[int, int] | None = (anim.width, anim.height)
                whole = anim.frames
            else:
                size = declared_frame_size(f, kind, file_bytes)
    except HeaderError as exc:
        raise InputError(f"{path.name} cannot be read as a video: {exc}.") from exc
    if size is None:
        raise InputError(f"{path.name} is {kind}, whose frame size cannot be checked before decoding: "
                         "convert it to MP4 (H.264) first.")
    width, height = size
    if max(width, height) > limits.max_side_px:
        raise InputError(f"The clip is {width}×{height}; the limit is {limits.max_side_px} px on the longer side.")
    return Declared(width, height, whole)


def probe(path: str | os.PathLike, limits: Limits | None = None, reader: str | None = None) -> VideoInfo:
    """Read a clip's headers and refuse what cannot or should not be scored; only a clip within every limit has
    its first frame decoded (for the size the decoder gives, rotation applied).

    ``reader``: None opens the clip with decord (the official reader) and falls back to ffmpeg for what decord
    cannot open; ``"decord"`` or ``"ffmpeg"`` uses that reader only (to compare the two on one file)."""
    limits = limits or Limits()
    p = Path(path)
    if not p.is_file():
        raise InputError(f"No such file: {p.name}")
    size = p.stat().st_size
    if size == 0:
        raise InputError(f"{p.name} is empty (0 bytes).")
    _check_file_size(size, limits)
    kind = sniff_container(p)
    declared = _declared(p, kind, limits)
    if reader not in (None, OFFICIAL_READER, FALLBACK_READER):
        raise ValueError(f"unknown reader {reader!r}")
    # decord opens no GIF or WebP (it finds no duration or no pixel format in them): ffmpeg reads them at once
    if reader == FALLBACK_READER or (reader is None and kind in ANIMATIONS):
        return _probe_with_ffmpeg(p, size, limits, declared.whole_frames)
    try:
        vr = _open(str(p))
    except InputError as refused:  # what decord cannot open (AV1, ...) goes to ffmpeg, labelled so
        if reader == OFFICIAL_READER:
            raise
        log.info("%s: reading it with ffmpeg (%s)", p.name, refused)
        return _probe_with_ffmpeg(p, size, limits, declared.whole_frames)
    try:
        total, fps = len(vr), float(vr.get_avg_fps())
        if total <= 0 or not math.isfinite(fps) or fps <= 0:
            raise InputError(f"{p.name} has no decodable video frames.")
        # before any frame decodes
        check_limits(VideoInfo(str(p), total, fps, declared.width, declared.height, size), limits)
        try:
            with quiet_decoder():
                height, width = vr[0].shape[:2]
        except Exception as exc:
            raise InputError(f"{p.name}: the first frame cannot be decoded: {_short(exc, str(p))}."
                             ) from _detached(exc)
    finally:
        # the reader goes now, refused or not: this frame outlives the call in any error's traceback, and a
        # decoder that has decoded an oversized frame (whose parameter sets no header reader could see) holds it
        vr = None
    info = VideoInfo(str(p), total, fps, int(width), int(height), size)
    check_limits(info, limits)  # the decoded size: what a stream without readable parameter sets really is
    return info


def _probe_with_ffmpeg(path: Path, size: int, limits: Limits, whole_frames: int | None) -> VideoInfo:
    return ffmpeg_reader.probe(path, size, lambda info: check_limits(info, limits), limits.max_side_px, whole_frames)


def read_frames(plan: FramePlan) -> Frames:
    """Decode only the planned frames, a few at a time, resizing each batch at once.

    The resize is torchvision's bicubic with antialias on uint8, as qwen-vl-utils does; it treats
    each frame independently, so batching changes memory, never pixels.
    """
    import time

    import torch
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as tvf

    start = time.perf_counter()
    out = np.empty((len(plan.indices), plan.resized_height, plan.resized_width, 3), dtype=np.uint8)
    size = [plan.resized_height, plan.resized_width]
    batches = (_decord_batches(plan) if plan.info.reader == OFFICIAL_READER
               else ffmpeg_reader.read_batches(plan, READ_BATCH))
    lo = 0
    for raw in batches:
        tchw = torch.from_numpy(raw).permute(0, 3, 1, 2)
        resized = tvf.resize(tchw, size, interpolation=InterpolationMode.BICUBIC, antialias=True)
        out[lo:lo + len(raw)] = resized.permute(0, 2, 3, 1).numpy()
        lo += len(raw)
        del raw, tchw, resized
    return Frames(plan, out, time.perf_counter() - start)


def _decord_batches(plan: FramePlan) -> Iterator[np.ndarray]:
    vr = _open(plan.info.path)
    try:
        for lo in range(0, len(plan.indices), READ_BATCH):
            chunk = list(plan.indices[lo:lo + READ_BATCH])
            try:
                raw = vr.get_batch(chunk).asnumpy()
            except Exception as exc:
                raise InputError(f"{Path(plan.info.path).name}: frames cannot be decoded: "
                                 f"{_short(exc, plan.info.path)}.") from _detached(exc)
            if raw.shape[1:3] != (plan.info.height, plan.info.width):  # a stream that changes size midway
                raise InputError(f"{Path(plan.info.path).name}: its frame size changes from "
                                 f"{plan.info.width}×{plan.info.height} to {raw.shape[2]}×{raw.shape[1]}; "
                                 "re-encode it at one size.")
            yield raw
    finally:
        vr = None  # as in probe: no error's traceback keeps the decoder


def load_frames(path: str | os.PathLike, fps: float = OFFICIAL_FPS, limits: Limits | None = None,
                reader: str | None = None) -> Frames:
    return read_frames(plan_frames(probe(path, limits, reader), fps))


def thumbnail_array(frames: Frames, height: int = THUMB_HEIGHT) -> np.ndarray:
    """The frames scaled down to ``height`` px (aspect kept, at most 10× as wide): what a page shows of them,
    a few kB each instead of the full frames."""
    from PIL import Image

    small = []
    for array in frames.array:
        image = Image.fromarray(np.ascontiguousarray(array))
        image.thumbnail((10 * height, height))
        small.append(np.asarray(image))
    return np.stack(small)

