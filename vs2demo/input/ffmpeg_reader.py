"""The fallback reader: the ffmpeg binary imageio-ffmpeg ships, for clips decord (the official reader) cannot open.

GIFs, animated WebP and AV1 are what AI-video sites hand out and what decord 0.6.0 refuses. ffmpeg reads them,
in a separate process (a hostile file can crash or bloat only that process). Nothing here decides which frames
the model sees: the frame maths is ``framing``'s, the same as for any clip; this module only

* scans the stream's packets without decoding them (``-c copy``): the codec, the declared size, each frame's
  start time, so the duration and frame-count limits apply before any decoding;
* decodes the first frame, for the size the decoder gives (rotation applied, as decord does);
* decodes the planned frames only (ffmpeg's ``select`` filter drops the rest), one at a time as RGB.

Every run caps ffmpeg's single allocations (``-max_alloc``) at what a frame within the limits needs.

A result read this way is labelled ("read by ffmpeg, not the official decord"): see ``VideoInfo.deviations``.
"""

from __future__ import annotations

import itertools
import re
import statistics
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import numpy as np

from vs2demo.core.errors import InputError
from vs2demo.input.framing import FALLBACK_READER, FramePlan, VideoInfo, source_frames

SCAN_TIMEOUT_S = 120.0  # a packet scan reads the file once without decoding: seconds even for a long clip
FIRST_FRAME_TIMEOUT_S = 60.0
NOPTS = -(2 ** 63)  # how ffmpeg's framecrc writes a missing timestamp
ADVICE = "re-encode it as H.264 MP4"
MIN_ALLOC_CAP = 32 * 2**20  # bytes: ffmpeg's own buffers for small clips
RGB_FRAMES = ("-f", "image2pipe", "-c:v", "ppm", "-pix_fmt", "rgb24", "-")  # self-describing frames on stdout


@dataclass(frozen=True)
class Scan:
    """What the packets of a file's first video stream say, before anything is decoded."""

    codec: str  # ffmpeg's codec name; "none" when ffmpeg does not know the codec
    width: int
    height: int
    starts_s: tuple[float, ...]  # each frame's start, from the first frame's, in presentation order
    duration_s: float


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


# ---- pure parsing ---------------------------------------------------------------------------------

_VIDEO_LINE = re.compile(r"Stream #\d+:\d+\S*: Video: (\w+)")
_SIZE = re.compile(r", (\d{1,6})x(\d{1,6})")
_TAG = re.compile(r"\(([^ ()]+) / 0x[0-9A-Fa-f]+\)")  # the container's codec tag: "(avc1 / 0x31637661)"


def parse_stream_line(log: str) -> tuple[str, int, int] | None:
    """(codec, width, height) of the first video stream of the input, from ffmpeg's log; None when it has none.
    A codec ffmpeg does not know is "none", or "none (tag)" with the container's codec tag when it gives one."""
    inputs = log.split("Stream mapping:")[0].split("Output #0")[0]
    for line in inputs.splitlines():
        found = _VIDEO_LINE.search(line)
        if found:
            size = _SIZE.search(line, found.end())
            w, h = (int(size.group(1)), int(size.group(2))) if size else (0, 0)
            tag = _TAG.search(line, found.end())
            codec = found.group(1)
            return (f"{codec} ({tag.group(1)})" if codec == "none" and tag else codec), w, h
    return None


def parse_framecrc(text: str) -> tuple[tuple[float, ...], float]:
    """Each frame's start (from the first frame's, sorted) and the clip's duration, from ``-f framecrc`` lines.

    The duration runs to the end of the last frame: its own duration when the container gives one (a GIF's
    delay, a WebP frame's duration), else the median gap between frames (a constant-rate clip's frame length).
    """
    tb = Fraction(1, 1)
    packets: list[tuple[int, int]] = []  # (pts, duration) in time-base ticks
    for line in text.splitlines():
        if line.startswith("#tb 0:"):
            num, den = line.split(":", 1)[1].strip().split("/")
            tb = Fraction(int(num), int(den))
        elif line and not line.startswith("#"):
            fields = [x.strip() for x in line.split(",")]
            if len(fields) < 4 or fields[0] != "0":
                continue
            dts, pts, duration = int(fields[1]), int(fields[2]), int(fields[3])
            packets.append((dts if pts == NOPTS else pts, max(duration, 0)))
    packets = [p for p in packets if p[0] != NOPTS]
    if not packets:
        return (), 0.0
    packets.sort()
    first = packets[0][0]
    starts = [pts - first for pts, _ in packets]
    gaps = [b - a for a, b in itertools.pairwise(starts) if b > a]
    last = packets[-1][1] or (statistics.median(gaps) if gaps else 0)
    return tuple(float(s * tb) for s in starts), float((starts[-1] + last) * tb)


def ppm_frame(stream: BinaryIO) -> np.ndarray | None:
    """The next binary PPM image (``P6\\nW H\\n255\\n`` then W×H×3 bytes) of ffmpeg's image2pipe, or None at the
    end of the stream."""
    magic = stream.readline()
    if not magic:
        return None
    dims, depth = stream.readline().split(), stream.readline().strip()
    if magic.strip() != b"P6" or len(dims) != 2 or depth != b"255":
        raise InputError("The fallback reader (ffmpeg) handed over a frame this app cannot parse.")
    w, h = int(dims[0]), int(dims[1])
    data = stream.read(w * h * 3)
    if len(data) != w * h * 3:
        return None
    return np.frombuffer(data, dtype=np.uint8).reshape(h, w, 3)


def _reason(log: str) -> str:
    """The last line of ffmpeg's log a user can act on: no addresses, no bracketed component names."""
    lines = [re.sub(r"^\[[^\]]*\] ", "", line).strip() for line in log.strip().splitlines()]
    lines = [line for line in lines
             if line and not line.startswith(("Error opening output", "Conversion failed", "frame=", "size="))]
    return (lines[-1] if lines else "ffmpeg cannot read it")[:160]


# ---- I/O ----------------------------------------------------------------------------------------


def alloc_cap(pixels: int) -> int:
    """ffmpeg's ``-max_alloc`` for frames of at most ``pixels``: room for one BGRA frame twice over, so a stream
    whose codec parameters declare a larger size than its container (a lying header) fails to allocate inside
    ffmpeg instead of taking gigabytes."""
    return max(MIN_ALLOC_CAP, 8 * pixels)


def _command(path: Path, cap: int, *args: str) -> list[str]:
    return [ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-max_alloc", str(cap), "-threads", "1",
            "-i", str(path), "-map", "0:v:0", *args]


def _run(command: list[str], timeout: float, text: bool) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL, text=text,
                          errors="replace" if text else None)


def scan(path: Path, cap: int) -> Scan:
    """Read the first video stream's packets, decoding nothing; raise InputError for a file without one."""
    name = path.name
    try:
        proc = _run(_command(path, cap, "-c", "copy", "-f", "framecrc", "-"), SCAN_TIMEOUT_S, text=True)
    except subprocess.TimeoutExpired as exc:
        raise InputError(f"{name} cannot be read as a video: its frames cannot be counted in time.") from exc
    log = proc.stderr.replace(str(path), name)
    stream = parse_stream_line(log)
    if stream is None:
        if "matches no streams" in log:
            raise InputError(f"{name} cannot be read as a video: it has no video stream (an audio-only file?).")
        raise InputError(f"{name} cannot be read as a video: {_reason(log)}.")
    starts, duration = parse_framecrc(proc.stdout)
    if not starts:
        raise InputError(f"{name} cannot be read as a video: its video stream holds no frames ({_reason(log)}).")
    codec, width, height = stream
    return Scan(codec, width, height, starts, duration)


def _no_decoder(name: str, codec: str) -> InputError:
    if codec.startswith("none"):
        tag = codec.removeprefix("none").strip(" ()")
        what = f"a codec neither knows{f' (its tag: {tag})' if tag else ''}"
    else:
        what = f"{codec}, which neither can decode"
    return InputError(f"{name} cannot be read: its video is {what} (decord, the official reader, and ffmpeg, "
                      f"the fallback): {ADVICE}.")


def first_frame_size(path: Path, codec: str, cap: int) -> tuple[int, int]:
    """(width, height) of the first decoded frame: what the reader will hand over, rotation applied."""
    name = path.name
    try:
        proc = _run(_command(path, cap, "-frames:v", "1", *RGB_FRAMES),
                    FIRST_FRAME_TIMEOUT_S, text=False)
    except subprocess.TimeoutExpired as exc:
        raise InputError(f"{name}: the first frame cannot be decoded in time.") from exc
    log = proc.stderr.decode("utf-8", "replace").replace(str(path), name)
    if "no decoder found" in log or "Decoder (codec" in log:
        raise _no_decoder(name, codec)
    head = proc.stdout[:64].split(b"\n")
    if len(head) < 3 or head[0] != b"P6" or len(head[1].split()) != 2:
        raise InputError(f"{name}: the first frame cannot be decoded: {_reason(log)}.")
    w, h = head[1].split()
    return int(w), int(h)


def probe(path: Path, file_bytes: int, check: Callable[[VideoInfo], None], max_side_px: int,
          whole: int | None = None) -> VideoInfo:
    """The clip as ffmpeg reads it. ``check`` (the limits) runs on the packet scan before anything is decoded,
    and again on the first frame's decoded size; no allocation may exceed what a frame within ``max_side_px``
    needs. ``whole``: an animation's whole frames as its headers count them (None for a video)."""
    cap = alloc_cap(max_side_px * max_side_px)
    s = scan(path, cap)
    if whole is not None and whole < len(s.starts_s):  # a download cut short: its last frame is not whole
        s = Scan(s.codec, s.width, s.height, s.starts_s[:whole], s.starts_s[whole])
    frames = len(s.starts_s)
    if frames < 2 or s.duration_s <= 0:
        raise InputError(f"{path.name} has only {frames} frame(s) a decoder can show; at least 2 are needed.")
    fps = frames / s.duration_s  # the mean rate: what a constant-rate clip of this length and count declares

    def info(width: int, height: int) -> VideoInfo:
        return VideoInfo(str(path), frames, fps, width, height, file_bytes, reader=FALLBACK_READER,
                         frame_starts=s.starts_s)

    check(info(s.width, s.height))  # from the packets alone: nothing decoded yet
    width, height = first_frame_size(path, s.codec, cap)
    decoded = info(width, height)
    check(decoded)
    return decoded


SELECT_CHAIN = 16  # terms summed in one chain: ffmpeg's expressions fail past about 100 in a row


def any_of(frames: Sequence[int]) -> str:
    """An ffmpeg expression true for the frames numbered ``frames``: a balanced sum of ``eq(n,i)`` terms, so up
    to the 768 frames a plan may hold stay a few levels deep."""
    if len(frames) <= SELECT_CHAIN:
        return "+".join(f"eq(n\\,{i})" for i in frames)
    mid = len(frames) // 2
    return f"({any_of(frames[:mid])})+({any_of(frames[mid:])})"


def _select(frames: Sequence[int]) -> str:
    return f"select='{any_of(frames)}'"


def _decoded(path: Path, unique: Sequence[int], cap: int) -> Iterator[np.ndarray]:
    """The frames numbered ``unique`` (ascending), one at a time; ffmpeg is stopped once the last arrives."""
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(_command(path, cap, "-vf", _select(unique), "-fps_mode", "passthrough", *RGB_FRAMES),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log)
        count = 0
        try:
            assert proc.stdout is not None
            while count < len(unique) and (frame := ppm_frame(proc.stdout)) is not None:
                count += 1
                yield frame
        finally:
            proc.kill()
            proc.wait()
        if count < len(unique):
            log.seek(0)
            reason = _reason(log.read().decode("utf-8", "replace").replace(str(path), path.name))
            raise InputError(f"{path.name}: only {count} of the {len(unique)} frames needed could be decoded "
                             f"(the file may be cut short): {reason}.")


def read_batches(plan: FramePlan, batch: int) -> Iterator[np.ndarray]:
    """The planned frames, full size RGB, ``batch`` at a time: each planned timestamp gets the frame on screen
    at that moment (``framing.source_frames``). ffmpeg decodes the clip once and passes on only those frames;
    at most one batch sits in memory at full size."""
    wanted = source_frames(plan)  # non-decreasing: a frame shown at several planned moments repeats
    unique = sorted(set(wanted))
    frames = _decoded(Path(plan.info.path), unique, alloc_cap(plan.info.width * plan.info.height))
    try:
        decoded = zip(unique, frames)
        pending: list[np.ndarray] = []
        number, current = -1, None
        for ordinal in wanted:
            while number < ordinal:
                number, current = next(decoded)
            pending.append(current)
            if len(pending) == batch:
                yield np.stack(pending)
                pending = []
        if pending:
            yield np.stack(pending)
    finally:
        frames.close()  # stops ffmpeg at once, whether every frame came or the caller gave up
