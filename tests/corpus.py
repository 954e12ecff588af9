"""An edge-case corpus of clips and non-clips, made with the ffmpeg binary imageio-ffmpeg ships.

Used by the tests (engine, CLI, app API) and by ``python scripts/make_edge_cases.py DIR``. Each case
says what must happen: the clip is scored, or it is refused with a message naming the problem.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Case:
    name: str
    filename: str
    expect: str  # "score" or "refuse"
    message: str = ""  # for "refuse": a word the message must contain (case-insensitive)
    reader: str = "decord"  # for "score": the reader its frames come through (anything but decord is labelled)


def _ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def _run(*args: str) -> None:
    subprocess.run([_ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", *args], check=True,
                   stdin=subprocess.DEVNULL)


def _testsrc(size: str, rate: float, seconds: float) -> list[str]:
    return ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}:duration={seconds}"]


X264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
AV1 = ["-c:v", "libaom-av1", "-cpu-used", "8", "-row-mt", "0", "-crf", "40", "-b:v", "0"]
FALLBACK = {"gif", "gif_truncated", "webp_animated", "webm_av1", "mp4_av1"}  # decord 0.6.0 cannot open these

# name -> (file name, expectation, message word, maker)
MAKERS: dict[str, tuple[str, str, str, Callable[[Path], None]]] = {
    "mp4_h264": ("h264.mp4", "score", "", lambda p: _run(*_testsrc("320x240", 24, 2), *X264, str(p))),
    "mp4_h265": ("h265.mp4", "score", "", lambda p: _run(*_testsrc("320x240", 24, 2), "-c:v", "libx265",
                                                         "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                                                         "-x265-params", "log-level=error", str(p))),
    "webm_vp9": ("vp9.webm", "score", "", lambda p: _run(*_testsrc("320x240", 24, 2), "-c:v", "libvpx-vp9",
                                                         "-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k",
                                                         str(p))),
    "mov": ("clip.mov", "score", "", lambda p: _run(*_testsrc("320x240", 25, 2), *X264, str(p))),
    "mkv": ("clip.mkv", "score", "", lambda p: _run(*_testsrc("320x240", 30, 2), *X264, str(p))),
    "avi_mjpeg": ("mjpeg.avi", "score", "", lambda p: _run(*_testsrc("320x240", 24, 2), "-c:v", "mjpeg",
                                                           "-q:v", "5", str(p))),
    "gif": ("anim.gif", "score", "", lambda p: _run(*_testsrc("160x120", 10, 2), str(p))),
    "gif_one_frame": ("one_frame.gif", "refuse", "1 frame",
                      lambda p: _run(*_testsrc("160x120", 10, 1), "-frames:v", "1", str(p))),
    "gif_truncated": ("truncated.gif", "score", "", lambda p: _cut(p, "gif", 3 / 5)),
    "webp_animated": ("anim.webp", "score", "", lambda p: _run(*_testsrc("160x120", 10, 2), "-c:v", "libwebp_anim",
                                                               "-loop", "0", str(p))),
    "webp_still": ("still.webp", "refuse", "still", lambda p: _run(*_testsrc("160x120", 10, 1), "-frames:v", "1",
                                                                   "-c:v", "libwebp", str(p))),
    "webm_av1": ("av1.webm", "score", "", lambda p: _run(*_testsrc("160x120", 12, 2), *AV1, str(p))),
    "mp4_av1": ("av1.mp4", "score", "", lambda p: _run(*_testsrc("160x120", 12, 2), *AV1, str(p))),
    "mp4_h264_10bit": ("h264_10bit.mp4", "score", "", lambda p: _run(*_testsrc("320x240", 24, 2), "-c:v", "libx264",
                                                                     "-preset", "ultrafast", "-pix_fmt",
                                                                     "yuv420p10le", str(p))),
    "unknown_codec": ("unknown_codec.mkv", "refuse", "codec", lambda p: _unknown_codec(p)),
    "tiny_17x9": ("tiny_17x9.mp4", "refuse", "odd width", lambda p: _run(*_testsrc("17x9", 24, 1), "-c:v", "libx264",
                                                               "-preset", "ultrafast", "-pix_fmt", "yuv444p",
                                                               str(p))),
    "wide_150to1": ("wide_1200x8.mp4", "score", "", lambda p: _run(*_testsrc("1200x8", 24, 1), *X264, str(p))),
    "too_wide_250to1": ("wide_2000x8.mp4", "refuse", "aspect",
                        lambda p: _run(*_testsrc("2000x8", 24, 1), *X264, str(p))),
    "uhd_4k": ("uhd.mp4", "score", "", lambda p: _run(*_testsrc("3840x2160", 24, 1), *X264, str(p))),
    "rotated_90": ("rotated.mp4", "score", "", lambda p: _rotated(p)),
    "variable_fps": ("vfr.mp4", "score", "", lambda p: _run(*_testsrc("320x240", 30, 3), "-vf",
                                                            "select='lt(n\\,30)+not(mod(n\\,3))'",
                                                            "-fps_mode", "vfr", *X264, str(p))),
    "single_frame": ("one_frame.mp4", "refuse", "frame",
                     lambda p: _run(*_testsrc("320x240", 24, 1), "-frames:v", "1", *X264, str(p))),
    "short_0.2s": ("short.mp4", "score", "", lambda p: _run(*_testsrc("320x240", 24, 0.2), *X264, str(p))),
    "ten_minutes": ("ten_minutes.mp4", "refuse", "limit",
                    lambda p: _run(*_testsrc("64x48", 5, 610), *X264, str(p))),
    "empty": ("empty.mp4", "refuse", "empty", lambda p: p.write_bytes(b"")),
    "random_bytes": ("random.mp4", "refuse", "not a video", lambda p: p.write_bytes(os.urandom(4096))),
    "png_as_mp4": ("image.mp4", "refuse", "PNG", lambda p: _as(p, "png", *_testsrc("64x48", 1, 1), "-frames:v", "1")),
    "wav_as_mp4": ("sound.mp4", "refuse", "not a video",
                   lambda p: _as(p, "wav", "-f", "lavfi", "-i", "sine=duration=1")),
    "m4a_as_mp4": ("music.mp4", "refuse", "no video stream",
                   lambda p: _run("-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac", "-f", "mp4", str(p))),
    "truncated_mp4": ("truncated.mp4", "refuse", "cannot be read", lambda p: _truncated(p)),
}


def _as(path: Path, fmt: str, *args: str) -> None:
    real = path.with_suffix("." + fmt)
    _run(*args, str(real))
    real.rename(path)


def _rotated(path: Path) -> None:
    plain = path.with_name("plain_for_rotation.mp4")
    _run(*_testsrc("320x240", 24, 2), *X264, str(plain))
    _run("-display_rotation", "90", "-i", str(plain), "-c", "copy", str(path))
    plain.unlink()


def _cut(path: Path, fmt: str, keep: float) -> None:
    """A clip of ``fmt`` cut short, mid-frame: a download that stopped."""
    whole = path.with_name(f"whole_for_cut.{fmt}")
    _run(*_testsrc("160x120", 10, 2), str(whole))
    data = whole.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    whole.unlink()


def _unknown_codec(path: Path) -> None:
    """A Matroska file whose video codec id no decoder knows (an H.264 stream relabelled): neither reader can."""
    known = path.with_name("known_codec.mkv")
    _run(*_testsrc("320x240", 24, 1), *X264, str(known))
    data = known.read_bytes()
    path.write_bytes(data.replace(b"V_MPEG4/ISO/AVC", b"V_ZZZZZ/ISO/AVC"))
    known.unlink()


def _truncated(path: Path) -> None:
    whole = path.with_name("whole_for_truncation.mp4")
    _run(*_testsrc("320x240", 24, 2), *X264, str(whole))
    data = whole.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 5])
    whole.unlink()


CASES: tuple[Case, ...] = tuple(Case(name, f, e, m, "ffmpeg" if name in FALLBACK else "decord")
                                for name, (f, e, m, _) in MAKERS.items())


def make(folder: str | os.PathLike, names: list[str] | None = None) -> dict[str, Path]:
    """Write the corpus (or the named cases) into ``folder``; existing files are kept."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, (filename, _, _, maker) in MAKERS.items():
        if names is not None and name not in names:
            continue
        path = folder / filename
        if not path.exists():
            maker(path)
        out[name] = path
    return out
