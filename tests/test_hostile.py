"""What a public Space gets from hostile visitors: resolution bombs, caches filled with long clips, concurrent
probes racing for stderr."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.corpus import make
from tests.helpers import STORM, forbid
from vs2demo.core.errors import InputError
from vs2demo.core.options import Limits
from vs2demo.engine.evaluator import Evaluator
from vs2demo.input import video
from vs2demo.input.container import MAX_ELEMENTS, HeaderError, declared_frame_size

BOMB = 16000


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Path]:
    return make(tmp_path_factory.mktemp("hostile"), ["mp4_h264", "mov", "mkv", "webm_vp9", "avi_mjpeg", "uhd_4k"])


def _put(data: bytearray, at: int, fmt: str, *values: int) -> None:
    data[at:at + struct.calcsize(fmt)] = struct.pack(fmt, *values)


def declare_mp4(data: bytearray, w: int, h: int) -> None:
    """Rewrite the size an MP4 declares, in its track header and its sample description, as a bomb would."""
    tkhd = data.index(b"tkhd") - 4
    end = tkhd + struct.unpack_from(">I", data, tkhd)[0]
    _put(data, end - 8, ">II", w << 16, h << 16)
    entry = data.index(b"avc1") - 4
    _put(data, entry + 32, ">HH", w, h)


def declare_avi(data: bytearray, w: int, h: int) -> None:
    avih = data.index(b"avih") + 8
    _put(data, avih + 32, "<II", w, h)
    strf = data.index(b"strf", data.index(b"vids")) + 8
    _put(data, strf + 4, "<ii", w, -h)


@pytest.mark.parametrize("name,container", [("mp4_h264", "MP4/MOV"), ("mov", "MP4/MOV"),
                                            ("mkv", "Matroska/WebM"), ("webm_vp9", "Matroska/WebM"),
                                            ("avi_mjpeg", "AVI"), ("uhd_4k", "MP4/MOV")])
def test_declared_size_is_read_from_the_headers(corpus, name: str, container: str) -> None:
    path = corpus[name]
    assert video.sniff_container(path) == container
    with open(path, "rb") as f:
        declared = declared_frame_size(f, container, path.stat().st_size)
    info = video.probe(path)
    assert declared == (info.width, info.height)


@pytest.mark.parametrize("name,declare", [("mp4_h264", declare_mp4), ("avi_mjpeg", declare_avi)])
def test_resolution_bomb_is_refused_before_any_decoder_opens_it(corpus, tmp_path, monkeypatch, name, declare) -> None:
    data = bytearray(corpus[name].read_bytes())
    declare(data, BOMB, BOMB)
    bomb = tmp_path / corpus[name].name
    bomb.write_bytes(data)
    import decord

    forbid(monkeypatch, decord, "VideoReader", "the decoder must not see an over-limit file")
    with pytest.raises(InputError, match=f"{BOMB}×{BOMB}; the limit is 4096 px"):
        video.probe(bomb, Limits())


def test_mkv_bomb_is_refused(corpus, tmp_path) -> None:
    data = bytearray(corpus["mkv"].read_bytes())
    at = data.index(b"\xb0\x82\x01\x40")  # PixelWidth, two bytes, 320
    data[at + 2:at + 4] = BOMB.to_bytes(2, "big")
    bomb = tmp_path / "bomb.mkv"
    bomb.write_bytes(data)
    with pytest.raises(InputError, match=f"{BOMB}×240"):
        video.probe(bomb, Limits())


@pytest.mark.parametrize("payload,message", [
    (b"\x00\x00\x00\x18ftypisom\x00\x00\x00\x00isomavc1" + b"\x00\x00\x00\x08free", "moov"),
    (b"\x00\x00\x00\x18ftypisom\x00\x00\x00\x00isomavc1" + b"\x00\x00\x00\x04moov", "malformed"),
    (b"\x00\x00\x00\x18ftypisom\x00\x00\x00\x00isomavc1" + b"\x00\x00\x00\x08moov" * (MAX_ELEMENTS + 5), "malformed"),
])
def test_malformed_headers_get_one_clear_message(tmp_path, payload: bytes, message: str) -> None:
    path = tmp_path / "broken.mp4"
    path.write_bytes(payload)
    with pytest.raises(InputError, match=message):
        video.probe(path)
    with open(path, "rb") as f, pytest.raises(HeaderError):
        declared_frame_size(f, "MP4/MOV", len(payload))


def test_containers_without_a_header_reader_are_refused_with_advice(tmp_path) -> None:
    path = tmp_path / "clip.flv"
    path.write_bytes(b"FLV\x01\x05" + b"\x00" * 64)
    with pytest.raises(InputError, match="convert it to MP4"):
        video.probe(path)


# ---- the prepared-clip cache ------------------------------------------------------------------


def test_cache_is_bounded_by_bytes_as_well_as_entries(evaluator, make_clip) -> None:
    clips = [make_clip(2.0 + i / 4, 24, (320, 240)) for i in range(3)]
    one, _ = evaluator.prepare(clips[0])
    small = Evaluator("smoke", cache_mb=(one.nbytes * 2.5) / 1e6)
    small.engine = evaluator.engine  # the loaded engine is all prepare() needs; no second model load
    for path in clips:
        small.prepare(path)
    assert 0 < small.cache.nbytes <= small.cache.max_bytes
    assert len(small.cache) == 2  # the oldest went to stay within 2.5 clips' bytes
    assert small.prepare(clips[0])[1] is False and small.prepare(clips[2])[1] is True


def test_a_clip_over_the_whole_budget_is_not_kept(evaluator, clip) -> None:
    tiny = Evaluator("smoke", cache_mb=0.001)
    tiny.engine = evaluator.engine
    prepared, hit = tiny.prepare(clip)
    assert not hit and prepared.nbytes > tiny.cache.max_bytes
    assert tiny.cache.nbytes == 0 and tiny.prepare(clip)[1] is False


def test_cache_budget_comes_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("VS2_CACHE_MB", "123")
    assert Evaluator("smoke").cache.max_bytes == 123_000_000


# ---- stderr under concurrent probes -------------------------------------------------------------



def test_stderr_survives_a_storm_of_concurrent_probes(corpus, tmp_path) -> None:
    broken = tmp_path / "broken.mp4"
    data = bytearray(corpus["mp4_h264"].read_bytes())
    mdat = data.index(b"mdat") + 4
    data[mdat:mdat + 4000] = os.urandom(4000)  # valid headers, garbage frames: the decoder complains
    broken.write_bytes(data)
    paths = [str(corpus["mp4_h264"]), str(broken), str(corpus["mkv"])]
    out = subprocess.run([sys.executable, "-c", STORM, *paths], capture_output=True, text=True, timeout=300,
                         cwd=Path(__file__).resolve().parent.parent)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "STDERR-ALIVE" in out.stderr


def test_muting_is_serialised(monkeypatch) -> None:
    """Two threads inside the mute at once is what left fd 2 on /dev/null for good."""
    inside = []
    peak = []

    def probe_like() -> None:
        with video.quiet_decoder():
            inside.append(1)
            peak.append(len(inside))
            threading.Event().wait(0.01)
            inside.pop()

    threads = [threading.Thread(target=probe_like) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert max(peak) == 1


# ---- lying headers: the container says 64×64, the parameter sets say 16000×16000 -------------------


def _ue(value: int) -> str:
    bits = bin(value + 1)[2:]
    return "0" * (len(bits) - 1) + bits


def h264_sps(width: int, height: int) -> bytes:
    """A baseline-profile SPS NAL unit for a width×height picture (multiples of 16), emulation prevention added."""
    bits = ("01000010" "11000000" "00101000" + _ue(0) + _ue(0) + _ue(0) + _ue(0) + _ue(1) + "0"
            + _ue(width // 16 - 1) + _ue(height // 16 - 1) + "1" "1" "0" "0" + "1")
    bits += "0" * (-len(bits) % 8)
    raw = int(bits, 2).to_bytes(len(bits) // 8, "big")
    out, zeros = bytearray([0x67]), 0
    for byte in raw:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


_PARENTS = {b"moov": 8, b"trak": 8, b"mdia": 8, b"minf": 8, b"stbl": 8, b"stsd": 16, b"avc1": 86}


def _grow_boxes(data: bytearray, start: int, end: int, at: int, delta: int) -> None:
    """Add ``delta`` to the size of every box between start and end that contains offset ``at``, and its parents."""
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        if pos < at < pos + size:
            struct.pack_into(">I", data, pos, size + delta)
            if kind in _PARENTS:
                _grow_boxes(data, pos + _PARENTS[kind], pos + size, at, delta)
            return
        pos += size


def lying_mp4(real: Path, out: Path, width: int = BOMB, height: int = BOMB) -> Path:
    """``real`` (an H.264 MP4 with its moov after the frames) with its avcC's SPS replaced by one for width×height;
    the track header and the sample entry keep the real, small size."""
    data = bytearray(real.read_bytes())
    assert data.index(b"moov") > data.index(b"mdat"), "the moov must follow the frames (no chunk offsets move)"
    at = data.index(b"avcC") - 4
    size = struct.unpack_from(">I", data, at)[0]
    config = data[at + 8:at + size]
    old_len = struct.unpack_from(">H", config, 6)[0]
    sps = h264_sps(width, height)
    new = bytes(config[:5]) + b"\xe1" + struct.pack(">H", len(sps)) + sps + bytes(config[8 + old_len:])
    delta = len(new) - len(config)
    data[at + 8:at + size] = new
    struct.pack_into(">I", data, at, size + delta)
    _grow_boxes(data, 0, len(data) - delta, at + 4, delta)
    out.write_bytes(data)
    return out


@pytest.fixture(scope="module")
def lying_bomb(make_clip, tmp_path_factory) -> Path:
    real = Path(make_clip(1.0, 8, (64, 64)))
    return lying_mp4(real, tmp_path_factory.mktemp("lying") / "lying.mp4")


def test_the_lying_bomb_keeps_its_small_labels(lying_bomb) -> None:
    with open(lying_bomb, "rb") as f:
        data = f.read()
    tkhd = data.index(b"tkhd") - 4
    end = tkhd + struct.unpack_from(">I", data, tkhd)[0]
    assert struct.unpack_from(">II", data, end - 8) == (64 << 16, 64 << 16)
    assert struct.unpack_from(">HH", data, data.index(b"avc1", data.index(b"stsd")) - 4 + 32) == (64, 64)


def test_lying_bomb_is_refused_from_its_parameter_sets_before_any_decoder(lying_bomb, monkeypatch) -> None:
    import decord

    forbid(monkeypatch, decord, "VideoReader", "the decoder must not see an over-limit stream")
    with pytest.raises(InputError, match=f"{BOMB}×{BOMB}; the limit is 4096 px"):
        video.probe(lying_bomb, Limits())


def test_lying_bomb_is_refused_by_plan_score_and_evaluate(lying_bomb, evaluator) -> None:
    from vs2demo.core.options import GenerationOptions

    with pytest.raises(InputError, match=f"{BOMB}×{BOMB}"):
        evaluator.plan(str(lying_bomb))
    with pytest.raises(InputError, match=f"{BOMB}×{BOMB}"):
        evaluator.evaluate(str(lying_bomb), "a square", GenerationOptions(max_new_tokens=4))


def test_lying_bomb_costs_no_memory_in_a_fresh_process(lying_bomb) -> None:
    """Refused for the price of a header read: a fresh process's peak RSS hardly moves (a decoded 16000² frame
    alone is 768 MB)."""
    code = ("import resource, sys\n"
            "from vs2demo.input import video\n"
            "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
            "try:\n    video.probe(sys.argv[1])\nexcept Exception as exc:\n    print(type(exc).__name__)\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)\n")
    run = subprocess.run([sys.executable, "-c", code, str(lying_bomb)], capture_output=True, text=True, check=True)
    kind, grown_kb = run.stdout.split()
    assert kind == "InputError" and int(grown_kb) < 100_000, run.stdout


@pytest.mark.parametrize("name", ["mp4_h264", "mp4_h265", "mkv"])
def test_parameter_set_sizes_match_what_the_decoder_gives(tmp_path_factory, name: str) -> None:
    from vs2demo.input.codec_size import CONFIG_READERS

    path = make(tmp_path_factory.mktemp(name), [name])[name]
    data = path.read_bytes()
    box = b"hvcC" if name == "mp4_h265" else b"avcC"
    if name == "mkv":
        at = data.index(b"\x63\xa2")  # CodecPrivate: an EBML size of one byte (0x80 | n) follows here
        config = data[at + 3:at + 3 + (data[at + 2] & 0x7F)]
    else:
        at = data.index(box) - 4
        config = data[at + 8:at + struct.unpack_from(">I", data, at)[0]]
    info = video.probe(path)
    assert CONFIG_READERS[box](config) == [(info.width, info.height)]


def test_mkv_whose_codec_private_lies_is_refused(tmp_path, make_clip) -> None:
    """The same lie in Matroska: PixelWidth/PixelHeight small, the CodecPrivate's SPS huge."""
    from tests.corpus import _ffmpeg

    mp4 = lying_mp4(Path(make_clip(1.0, 8, (64, 64))), tmp_path / "lying.mp4")
    mkv = tmp_path / "lying.mkv"
    subprocess.run([_ffmpeg(), "-loglevel", "error", "-y", "-i", str(mp4), "-c", "copy", str(mkv)], check=True,
                   stdin=subprocess.DEVNULL)
    with open(mkv, "rb") as f:
        assert declared_frame_size(f, "Matroska/WebM", mkv.stat().st_size) == (BOMB, BOMB)
    with pytest.raises(InputError, match=f"{BOMB}×{BOMB}"):
        video.probe(mkv, Limits())


def test_a_refused_decoded_frame_leaves_no_decoder_behind(corpus, monkeypatch) -> None:
    """A stream whose size no header reader sees (MJPEG in AVI, labels patched small) is refused on its first
    decoded frame; the error that says so, kept by a caller, keeps no decoder (and none of its buffers) alive."""
    import gc
    import weakref

    import decord

    data = bytearray(corpus["avi_mjpeg"].read_bytes())
    declare_avi(data, 64, 48)
    path = corpus["avi_mjpeg"].with_name("labelled_small.avi")
    path.write_bytes(data)
    readers: list[weakref.ref] = []

    class Tracked(decord.VideoReader):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            readers.append(weakref.ref(self))

    monkeypatch.setattr(decord, "VideoReader", Tracked)
    with pytest.raises(InputError, match="320×240; the limit is 200 px") as caught:
        video.probe(path, Limits(max_side_px=200))
    kept = caught.value  # as a log record or the web framework would keep it
    gc.collect()
    assert readers and all(r() is None for r in readers), kept
