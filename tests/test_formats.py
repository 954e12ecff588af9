"""Every clip a user brings: GIF, animated WebP, AV1, VP9, HEVC, 10-bit, variable frame rate.

decord (the official reader) opens what it can; what it cannot goes through imageio-ffmpeg's ffmpeg with the same
frame maths, and the result says so. Every file here is made by the shipped ffmpeg binary.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.corpus import AV1, X264, _run, _testsrc
from tests.helpers import forbid
from tests.synth import (
    COLOURS,
    set_gif_delays,
    set_gif_screen,
    set_webp_canvas,
    set_webp_durations,
    which_colour,
    write_solid_frames,
)
from vs2demo.core.errors import InputError
from vs2demo.core.options import GenerationOptions, Limits
from vs2demo.input import ffmpeg_reader, video
from vs2demo.input.animation import Animation, parse_gif
from vs2demo.input.framing import (
    VideoInfo,
    frame_count,
    frames_at_times,
    plan_frames,
    source_frames,
    start_tolerance,
)

OPTIONS = GenerationOptions(seed=0, max_new_tokens=8)
READ_BY_FFMPEG = "read by ffmpeg, not the official decord"
GIF_ARGS = ("-loop", "0")  # a looping GIF (the NETSCAPE extension), as galleries hand out
WEBP_ARGS = ("-c:v", "libwebp_anim", "-lossless", "0", "-loop", "0")


def _encoders() -> str:
    return subprocess.run([ffmpeg_reader.ffmpeg_exe(), "-hide_banner", "-encoders"], capture_output=True,
                          text=True).stdout


def _needs(encoder: str) -> None:
    if f" {encoder} " not in _encoders():
        pytest.skip(f"the shipped ffmpeg has no {encoder} encoder to make this file with")


# name -> (encoder needed, expected reader, maker)
FORMATS = {
    "gif": ("gif", "ffmpeg", lambda p: _run(*_testsrc("160x120", 10, 2), *GIF_ARGS, str(p))),
    "webp": ("libwebp_anim", "ffmpeg", lambda p: _run(*_testsrc("160x120", 10, 2), *WEBP_ARGS, str(p))),
    "av1.webm": ("libaom-av1", "ffmpeg", lambda p: _run(*_testsrc("160x120", 12, 2), *AV1, str(p))),
    "av1_svt.mp4": ("libsvtav1", "ffmpeg", lambda p: _run(*_testsrc("160x120", 12, 2), "-c:v", "libsvtav1",
                                                         "-preset", "12", "-svtav1-params", "lp=1", str(p))),
    "vp9.webm": ("libvpx-vp9", "decord", lambda p: _run(*_testsrc("160x120", 30, 2), "-c:v", "libvpx-vp9",
                                                        "-deadline", "realtime", "-cpu-used", "8", str(p))),
    "hevc.mp4": ("libx265", "decord", lambda p: _run(*_testsrc("160x120", 24, 2), "-c:v", "libx265", "-preset",
                                                     "ultrafast", "-x265-params", "log-level=error", str(p))),
    "hevc_10bit.mp4": ("libx265", "decord", lambda p: _run(*_testsrc("160x120", 24, 2), "-c:v", "libx265",
                                                           "-preset", "ultrafast", "-pix_fmt", "yuv420p10le",
                                                           "-x265-params", "log-level=error", str(p))),
    "h264_10bit.mp4": ("libx264", "decord", lambda p: _run(*_testsrc("160x120", 24, 2), "-c:v", "libx264",
                                                           "-pix_fmt", "yuv420p10le", str(p))),
    "vfr.mp4": ("libx264", "decord", lambda p: _run(*_testsrc("160x120", 30, 3), "-vf",
                                                    "select='lt(n\\,30)+not(mod(n\\,3))'", "-fps_mode", "vfr",
                                                    *X264, str(p))),
    "vfr_av1.webm": ("libaom-av1", "ffmpeg", lambda p: _run(*_testsrc("160x120", 30, 3), "-vf",
                                                            "select='lt(n\\,30)+not(mod(n\\,3))'", "-fps_mode",
                                                            "vfr", *AV1, str(p))),
}


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("formats")


def _make(folder: Path, name: str) -> Path:
    encoder, _, maker = FORMATS[name]
    _needs(encoder)
    path = folder / (name if "." in name else f"clip.{name}")
    if not path.exists():
        maker(path)
    return path


@pytest.mark.parametrize("name", list(FORMATS))
def test_each_format_is_scored_with_its_reader_named(evaluator, made, name) -> None:
    path = _make(made, name)
    reader = FORMATS[name][1]
    result = evaluator.score(str(path), "a test pattern", OPTIONS)
    assert result.plan.info.reader == reader
    assert len(result.plan.indices) >= 4 and result.plan.info.duration_s > 1.5
    data = result.to_dict()
    assert data["frames"]["reader"] == data["reader"] == result.reader == reader
    assert (READ_BY_FFMPEG in data["settings_deviations"]) == (reader == "ffmpeg")
    assert result.official_settings is False  # a seed and 8 tokens, at least
    assert (READ_BY_FFMPEG in result.deviations(GenerationOptions())) == (reader == "ffmpeg")


def test_variable_rate_fallback_keeps_the_true_duration(made) -> None:
    """30 frames in the first second, then 10 a second: 50 frames, the last starting at 2.9 s and lasting the
    1/30 s its block says, whatever a constant rate would make of them."""
    info = video.probe(_make(made, "vfr_av1.webm"))
    assert info.total_frames == 50 and info.duration_s == pytest.approx(2.9 + 0.033, abs=0.002)
    starts = info.frame_starts
    assert starts[29] == pytest.approx(29 / 30, abs=0.002) and starts[30] == pytest.approx(1.0, abs=0.002)
    plan = plan_frames(info)
    assert source_frames(plan) == frames_at_times(starts, plan.timestamps, 1e-3)


# ---- the fallback picks the same moments: an MP4 and a WebM read both ways ---------------------------------


def _both_ways(path: Path):
    return video.probe(path, reader="decord"), video.probe(path, reader="ffmpeg")


@pytest.mark.slow
@pytest.mark.parametrize("seconds,fps,size", [(3.0, 24, (320, 240)), (4.0, 29.97, (640, 360)), (2.5, 30, (176, 144))])
def test_mp4_frames_read_both_ways_agree(make_clip, seconds, fps, size) -> None:
    official, fallback = _both_ways(Path(make_clip(seconds, fps, size)))
    assert (official.reader, fallback.reader) == ("decord", "ffmpeg")
    assert (fallback.total_frames, fallback.width, fallback.height) == (official.total_frames, official.width,
                                                                      official.height)
    assert fallback.native_fps == pytest.approx(official.native_fps, rel=1e-4)
    a, b = plan_frames(official), plan_frames(fallback)
    assert a.indices == b.indices and source_frames(b) == a.indices  # the same moments
    fa, fb = video.read_frames(a).array.astype(int), video.read_frames(b).array.astype(int)
    assert fa.shape == fb.shape
    diff = np.abs(fa - fb)
    assert diff.mean() < 0.5 and diff.max() <= 8, (diff.mean(), diff.max())  # colour conversion rounding at most


def test_webm_in_a_millisecond_time_base_picks_the_same_frames(made) -> None:
    """At 30 fps, WebM rounds frame k's start to whole milliseconds (frame 2 at 67 ms, after 2/30 s): the
    fallback must still pick frame k for the official index k."""
    official, fallback = _both_ways(_make(made, "vp9.webm"))
    assert fallback.frame_starts[2] == pytest.approx(0.067)
    for fps in (2.0, 7.0, 30.0):
        a, b = plan_frames(official, fps), plan_frames(fallback, fps)
        assert a.indices == b.indices and source_frames(b) == a.indices
    fa = video.read_frames(plan_frames(official)).array.astype(int)
    fb = video.read_frames(plan_frames(fallback)).array.astype(int)
    assert np.abs(fa - fb).mean() < 0.5


# ---- GIF and WebP timing: frames picked by time ------------------------------------------------------------

DELAYS_CS = [100, 10, 10, 10, 50, 10, 10, 10]  # a long first frame, a longer fifth: 2.1 s in all


def _on_screen(delays_s: list[float], t: float) -> int:
    """The frame a viewer sees at ``t``: the last to start at or before it (worked out here, independently)."""
    start, shown = 0.0, 0
    for k, d in enumerate(delays_s):
        if start <= t + 1e-9:
            shown = k
        start += d
    return shown


def _check_picked_by_time(path: Path, delays_s: list[float]) -> None:
    info = video.probe(path)
    assert info.reader == "ffmpeg" and info.total_frames == len(delays_s)
    assert info.duration_s == pytest.approx(sum(delays_s))  # one pass of a looping file, not forever
    for fps in (2.0, 4.0):
        plan = plan_frames(info, fps)
        # the official maths: the mean rate, linspace over the frame count, index ÷ rate
        n = frame_count(len(delays_s), len(delays_s) / sum(delays_s), fps)
        assert list(plan.indices) == torch.linspace(0, len(delays_s) - 1, n).round().long().tolist()
        expected = [_on_screen(delays_s, t) for t in plan.timestamps]
        assert list(source_frames(plan)) == expected
        frames = video.read_frames(plan)
        assert [which_colour(f) for f in frames.array] == expected  # the pixels are those frames


def test_gif_delays_pick_the_frame_on_screen(made) -> None:
    path = write_solid_frames(made / "solid.gif", codec_args=GIF_ARGS)
    timed = made / "timed.gif"
    timed.write_bytes(set_gif_delays(path.read_bytes(), DELAYS_CS))
    assert b"NETSCAPE2.0" in timed.read_bytes()  # it loops
    _check_picked_by_time(timed, [d / 100 for d in DELAYS_CS])


def test_webp_durations_pick_the_frame_on_screen(made) -> None:
    _needs("libwebp_anim")
    path = write_solid_frames(made / "solid.webp", codec_args=WEBP_ARGS)
    timed = made / "timed.webp"
    timed.write_bytes(set_webp_durations(path.read_bytes(), [d * 10 for d in DELAYS_CS]))
    _check_picked_by_time(timed, [d / 100 for d in DELAYS_CS])


@pytest.mark.slow
def test_hundreds_of_planned_frames_are_each_the_right_one(made) -> None:
    """A plan may hold up to 768 frames; each must arrive, in order, as the frame planned (colours cycle)."""
    colours = COLOURS * 40  # 320 frames, 32 s at 10 fps
    path = write_solid_frames(made / "long.gif", colours, size=(32, 24), codec_args=GIF_ARGS)
    plan = plan_frames(video.probe(path), fps=10.0)
    assert len(plan.indices) == 320 and source_frames(plan) == plan.indices
    frames = video.read_frames(plan)
    assert [which_colour(f) for f in frames.array] == [i % len(COLOURS) for i in plan.indices]


def test_gif_zero_delays_last_a_tenth_of_a_second(evaluator, made) -> None:
    """Browsers and ffmpeg show a 0 delay as 0.1 s; the clip is scored, not divided by zero."""
    path = write_solid_frames(made / "solid_zero.gif", codec_args=GIF_ARGS)
    zero = made / "zero.gif"
    zero.write_bytes(set_gif_delays(path.read_bytes(), [0] * len(COLOURS)))
    info = video.probe(zero)
    assert info.duration_s == pytest.approx(0.1 * len(COLOURS))
    result = evaluator.score(str(zero), "colours", OPTIONS)
    assert READ_BY_FFMPEG in result.deviations()


def test_one_frame_gif_and_still_webp_get_one_clear_line(made) -> None:
    one = made / "one.gif"
    _run(*_testsrc("64x48", 10, 1), "-frames:v", "1", str(one))
    with pytest.raises(InputError, match="only 1 frame"):
        video.load_frames(one)
    _needs("libwebp")
    still = made / "still.webp"
    _run(*_testsrc("64x48", 10, 1), "-frames:v", "1", "-c:v", "libwebp", str(still))
    with pytest.raises(InputError, match="still WebP image"):
        video.probe(still)


@pytest.mark.parametrize("name", ["gif", "webp"])
@pytest.mark.parametrize("keep", [0.05, 0.2, 0.5, 0.9, 0.999])
def test_truncated_animation_is_scored_or_refused_in_one_line(made, name, keep) -> None:
    """A download cut short: read up to its last whole frame, or refused in one line; never a traceback."""
    whole = _make(made, name)
    cut = made / f"cut_{keep}.{name}"
    data = whole.read_bytes()
    cut.write_bytes(data[: int(len(data) * keep)])
    try:
        frames = video.load_frames(cut)
    except InputError as exc:
        assert keep < 0.5, str(exc)  # half the file holds whole frames enough
        assert "Traceback" not in str(exc) and str(made) not in str(exc)
    else:
        assert frames.plan.info.reader == "ffmpeg" and len(frames.array) >= 2
        assert frames.plan.info.total_frames < 20  # only the whole frames


@pytest.mark.parametrize("name,kind", [("gif", "GIF"), ("webp", "WebP")])
def test_an_animation_goes_to_ffmpeg_at_once_its_headers_walked_once(made, monkeypatch, name, kind) -> None:
    """decord opens no GIF or WebP, so it is not tried; the headers' walk (which counts the whole frames) is done
    once and handed to the reader."""
    import decord

    walks = []
    real = video.ANIMATIONS[kind]
    tried = forbid(monkeypatch, decord, "VideoReader", "decord is not tried on an animation")
    monkeypatch.setitem(video.ANIMATIONS, kind, lambda *a: (walks.append(1), real(*a))[1])
    info = video.probe(_make(made, name))
    assert info.reader == "ffmpeg" and info.total_frames >= 2 and walks == [1] and tried == []


# ---- limits from the headers, before any decoder runs --------------------------------------------------------


@pytest.fixture()
def no_decoding(monkeypatch):
    """Any decoder (decord, an ffmpeg process) started from here on fails the test."""
    import decord

    for target, name in ((decord, "VideoReader"), (subprocess, "run"), (subprocess, "Popen")):
        forbid(monkeypatch, target, name, "nothing may be decoded for an over-limit file")


def _over_limits(made: Path) -> dict[str, tuple[bytes, str]]:
    gif = _make(made, "gif").read_bytes()
    webp = _make(made, "webp").read_bytes()
    return {
        "gif_screen": (set_gif_screen(gif, 16000, 16000), "16000×16000; the limit is 4096 px"),
        "gif_delays": (set_gif_delays(gif, [65535] * 20), "the limit is 600 s"),
        "webp_canvas": (set_webp_canvas(webp, 9000, 120), "9000×120; the limit is 4096 px"),
        "webp_durations": (set_webp_durations(webp, [16_000_000] * 20), "the limit is 600 s"),
    }


@pytest.mark.parametrize("case", ["gif_screen", "gif_delays", "webp_canvas", "webp_durations"])
def test_animation_limits_are_checked_from_the_headers(made, request, case) -> None:
    data, message = _over_limits(made)[case]
    path = made / f"{case}.{case.split('_')[0]}"
    path.write_bytes(data)
    request.getfixturevalue("no_decoding")
    with pytest.raises(InputError, match=message):
        video.probe(path, Limits())


def test_frame_count_limit_applies_to_a_gif(made) -> None:
    with pytest.raises(InputError, match="20 frames; the limit is 10"):
        video.probe(_make(made, "gif"), Limits(max_total_frames=10))


# ---- right reasons -----------------------------------------------------------------------------------------


def test_av1_is_not_called_audio_only(made) -> None:
    info = video.probe(_make(made, "av1.webm"))
    assert info.reader == "ffmpeg" and (info.width, info.height) == (160, 120)


def test_a_codec_no_reader_has_is_named_with_advice(tmp_path) -> None:
    from tests.corpus import make

    path = make(tmp_path, ["unknown_codec"])["unknown_codec"]
    with pytest.raises(InputError) as info:
        video.probe(path)
    message = str(info.value)
    assert "codec" in message and "re-encode it as H.264 MP4" in message and "audio-only" not in message
    assert str(tmp_path) not in message


@pytest.mark.parametrize("name,codec", [("sound.mkv", "libopus"), ("sound.avi", "pcm_s16le")])
def test_audio_only_files_are_called_so(tmp_path, name, codec) -> None:
    audio = tmp_path / name
    _run("-f", "lavfi", "-i", "sine=duration=1", "-c:a", codec, str(audio))
    with pytest.raises(InputError, match=r"no video stream \(an audio-only file\?\)"):
        video.probe(audio)


# ---- the pure parts ------------------------------------------------------------------------------------------


def test_frames_at_times_picks_the_frame_on_screen() -> None:
    starts = (0.0, 1.0, 1.1, 1.2)
    assert frames_at_times(starts, (0.0, 0.99, 1.0, 1.05, 5.0), 0.0) == (0, 0, 1, 1, 3)
    assert frames_at_times((0.0, 0.033, 0.067, 0.1), (0.0, 1 / 30, 2 / 30, 3 / 30), 0.002) == (0, 1, 2, 3)


def test_start_tolerance_never_skips_a_short_frame() -> None:
    assert start_tolerance((0.0, 0.033, 0.067)) == pytest.approx(0.002)
    assert start_tolerance((0.0, 0.001, 0.5)) == pytest.approx(0.0005)
    assert frames_at_times((0.0, 0.001, 0.5), (0.0,), start_tolerance((0.0, 0.001, 0.5))) == (0,)


def test_decord_plans_keep_the_official_indices() -> None:
    plan = plan_frames(VideoInfo("x.mp4", 120, 24.0, 320, 240, 1))
    assert source_frames(plan) == plan.indices and plan.info.deviations == []
    assert plan.to_dict()["reader"] == "decord"


def test_parse_framecrc_sorts_reordered_frames_and_times_the_last() -> None:
    text = "#tb 0: 1/1000\n#media_type 0: video\n0, -33, 0, 33, 10, 0x0\n0, 0, 100, 0, 10, 0x0\n" \
           "0, 33, 33, 0, 10, 0x0\n0, 67, 67, 0, 10, 0x0\n"
    starts, duration = ffmpeg_reader.parse_framecrc(text)
    assert starts == (0.0, 0.033, 0.067, 0.1)
    assert duration == pytest.approx(0.1 + 0.033)  # no duration on the last: the median gap


def test_parse_stream_line() -> None:
    log = ("Input #0, matroska,webm, from 'a.webm':\n  Stream #0:0: Audio: opus, 48000 Hz\n"
           "  Stream #0:1(eng): Video: av1 (libdav1d) (Main), yuv420p(tv, progressive), 160x120 [SAR 1:1], 10 fps\n"
           "Stream mapping:\n  Stream #0:1 -> #0:0 (copy)\n")
    assert ffmpeg_reader.parse_stream_line(log) == ("av1", 160, 120)
    assert ffmpeg_reader.parse_stream_line("Input #0, wav:\n  Stream #0:0: Audio: pcm_s16le\n") is None


def test_parse_gif_counts_whole_images_and_their_delays() -> None:
    def image(delay: int) -> bytes:
        control = b"\x21\xf9\x04\x00" + delay.to_bytes(2, "little") + b"\x00\x00"
        return control + b"\x2c" + bytes(8) + b"\x00" + b"\x02" + b"\x02\x4c\x01" + b"\x00"

    head = b"GIF89a" + (40).to_bytes(2, "little") + (30).to_bytes(2, "little") + b"\x00\x00\x00"
    data = head + image(5) + image(0) + image(20) + b"\x3b"
    assert parse_gif(data) == Animation(40, 30, 3, 0.35)  # the 0 delay lasts 0.1 s
    assert parse_gif(data[:-6]) == Animation(40, 30, 2, 0.15)  # the third image is cut short


def test_ffmpeg_may_not_allocate_past_the_frames_it_was_told_of(tmp_path) -> None:
    """A stream whose codec declares more than its header (a lying header) fails inside ffmpeg's allocation cap:
    here a real 4096×2160 GIF read with a cap sized for a small frame."""
    big = tmp_path / "big.gif"
    _run(*_testsrc("4096x2160", 2, 1), "-frames:v", "2", str(big))
    assert ffmpeg_reader.first_frame_size(big, "gif", ffmpeg_reader.alloc_cap(4096 * 2160)) == (4096, 2160)
    with pytest.raises(InputError, match="first frame cannot be decoded"):
        ffmpeg_reader.first_frame_size(big, "gif", ffmpeg_reader.alloc_cap(64 * 48))


# ---- the deviation, from one place, wherever a result shows -------------------------------------------------


def test_report_and_cli_name_the_reader(evaluator, made, smoke_dir) -> None:
    from tests.helpers import cli
    from vs2demo.present.report_html import report_html
    from vs2demo.present.result_html import plan_html

    gif, mp4 = _make(made, "gif"), _make(made, "hevc.mp4")
    result = evaluator.score(str(gif), "a test pattern", OPTIONS)
    assert READ_BY_FFMPEG in report_html([result]) and READ_BY_FFMPEG in plan_html(result.plan)
    official = evaluator.score(str(mp4), "a test pattern", OPTIONS)
    assert READ_BY_FFMPEG not in report_html([official]) and READ_BY_FFMPEG not in plan_html(official.plan)
    frames = cli("frames", str(gif))
    assert frames.returncode == 0 and f"[{READ_BY_FFMPEG}]" in frames.stdout
    assert READ_BY_FFMPEG not in cli("frames", str(mp4)).stdout
    scored = cli("score", str(gif), "--prompt", "a test pattern", "--model", "smoke", "--seed", "0",
                 "--max-new-tokens", "8")
    assert scored.returncode == 0, scored.stderr
    assert f"{READ_BY_FFMPEG}]" in scored.stdout  # in the "not the official settings" line


def test_an_unknown_codec_tag_is_named(tmp_path) -> None:
    mp4, plain = tmp_path / "plain.mp4", tmp_path / "plain.avi"
    _run(*_testsrc("160x120", 24, 1), *X264, str(mp4))
    _run("-i", str(mp4), "-c", "copy", str(plain))  # remuxed, the AVI keeps the MP4's tag
    data = plain.read_bytes()
    assert data.count(b"avc1") == 2  # the stream header's handler and the bitmap header's compression
    odd = tmp_path / "odd.avi"
    odd.write_bytes(data.replace(b"avc1", b"zzz1"))
    with pytest.raises(InputError, match=r"a codec neither knows \(its tag: zzz1\).*re-encode it as H\.264 MP4"):
        video.probe(odd)
    log = "  Stream #0:0: Video: none (zzz1 / 0x317A7A7A), none, 320x240, SAR 1:1\n"
    assert ffmpeg_reader.parse_stream_line(log) == ("none (zzz1)", 320, 240)


@pytest.mark.parametrize("piece", [b"\x01\x00", b"\x21\xfe\x00"])  # 1-byte data pieces; empty comments
def test_a_gif_of_endless_tiny_pieces_is_refused_quickly(piece) -> None:
    from vs2demo.input.animation import MAX_GIF_BLOCKS
    from vs2demo.input.container import HeaderError

    head = b"GIF89a" + (40).to_bytes(2, "little") + (30).to_bytes(2, "little") + b"\x00\x00\x00"
    image = b"\x2c" + bytes(8) + b"\x00" + b"\x02"
    body = image + piece * (MAX_GIF_BLOCKS + 5) if piece[0] == 1 else piece * (MAX_GIF_BLOCKS + 5)
    with pytest.raises(HeaderError, match="more pieces than any encoder writes"):
        parse_gif(head + body)


def test_the_page_says_which_reader(smoke_app, made) -> None:
    """Through the page's own /score: the status line, the plan panel and the JSON name the fallback reader,
    and only for a file it read."""
    from gradio_client import handle_file

    for name in ("webp", "vp9.webm"):
        final = smoke_app.predict(handle_file(str(_make(made, name))), "a test pattern", 0, False, 0.7, 16, 2.0,
                                  api_name="/score")
        status, plan, data = final[0], final[1], final[7]
        fallback = FORMATS[name][1] == "ffmpeg"
        assert (READ_BY_FFMPEG in status) == (READ_BY_FFMPEG in plan) == fallback, name
        assert data["reader"] == FORMATS[name][1] and (READ_BY_FFMPEG in data["settings_deviations"]) == fallback


def test_a_reader_can_be_asked_for(made) -> None:
    gif = _make(made, "gif")
    with pytest.raises(InputError, match="cannot be read as a video"):
        video.probe(gif, reader="decord")  # decord alone refuses a GIF, as the official script would
    assert video.load_frames(gif, reader="ffmpeg").plan.info.reader == "ffmpeg"
    with pytest.raises(ValueError, match="unknown reader"):
        video.probe(gif, reader="pyav")
