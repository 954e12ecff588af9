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
from tests.helpers import STORM
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

    def never(*args, **kwargs):
        raise AssertionError("the decoder must not see an over-limit file")

    monkeypatch.setattr(decord, "VideoReader", never)
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
        with video._quiet_decoder():
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
