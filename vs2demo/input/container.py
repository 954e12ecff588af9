"""Frame sizes read from a container's headers, before any decoder sees the file.

A decoder allocates buffers for the size a stream declares: a 0.75 MB H.264 file declaring 16000×16000 costs
gigabytes the moment it is opened. These readers walk only the header boxes (MP4/MOV), elements (Matroska/WebM)
or chunks (AVI), reading a few hundred bytes, so an over-limit size is refused for the price of a seek.
Each returns the largest width and height any video track declares, or raises ``HeaderError``. The size a
stream's own parameter sets give (H.264/HEVC, from ``avcC``/``hvcC`` or Matroska's CodecPrivate) counts too: it,
not the container's label, is what a decoder allocates (codec_size.py).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import BinaryIO

from vs2demo.input.codec_size import CONFIG_READERS, MAX_CONFIG_BYTES, ParameterSetError

MAX_ELEMENTS = 10_000  # bounds the walk on hostile files whose boxes are tiny and endless


class HeaderError(Exception):
    """The headers are missing or malformed; the message says what a user can act on."""


def _read_exact(f: BinaryIO, n: int) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise HeaderError("its header is cut short")
    return data


# ---- MP4 / MOV (ISO base media file format) ---------------------------------------------------

_MP4_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}


def _boxes(f: BinaryIO, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, payload end) of each box between start and end."""
    pos = start
    while pos + 8 <= end:
        f.seek(pos)
        size, kind = struct.unpack(">I4s", _read_exact(f, 8))
        header = 8
        if size == 1:  # a 64-bit size follows
            size = struct.unpack(">Q", _read_exact(f, 8))[0]
            header = 16
        elif size == 0:  # the box runs to the end of the file
            size = end - pos
        if size < header:
            raise HeaderError("its header is malformed")
        yield kind, pos + header, min(pos + size, end)
        pos += size


def mp4_frame_size(f: BinaryIO, file_size: int) -> tuple[int, int]:
    sizes: list[tuple[int, int]] = []
    seen = 0

    def walk(start: int, end: int, in_video_track: bool) -> None:
        nonlocal seen
        for kind, lo, hi in _boxes(f, start, end):
            seen += 1
            if seen > MAX_ELEMENTS:
                raise HeaderError("its header is malformed")
            if kind == b"trak":
                walk(lo, hi, _is_video_track(f, lo, hi))
            elif kind in _MP4_CONTAINERS:
                walk(lo, hi, in_video_track)
            elif kind == b"tkhd" and in_video_track and hi - lo >= 8:
                f.seek(hi - 8)  # width and height, 16.16 fixed point, end the track header
                w, h = struct.unpack(">II", _read_exact(f, 8))
                sizes.append((w >> 16, h >> 16))
            elif kind == b"stsd" and in_video_track:
                sizes.extend(_sample_entry_sizes(f, lo, hi))

    walk(0, file_size, False)
    if not any(kind == b"moov" for kind, _, _ in _boxes(f, 0, file_size)):
        raise HeaderError("it has no 'moov' header (the file may be cut short)")
    if not sizes:
        raise HeaderError("it has no video stream (an audio-only file?)")
    return max(w for w, _ in sizes), max(h for _, h in sizes)


def _is_video_track(f: BinaryIO, start: int, end: int) -> bool:
    for kind, lo, hi in _boxes(f, start, end):
        if kind == b"mdia":
            for inner, ilo, _ in _boxes(f, lo, hi):
                if inner == b"hdlr":
                    f.seek(ilo + 8)  # version/flags (4), pre_defined (4), then the handler type
                    return _read_exact(f, 4) == b"vide"
    return False


VISUAL_ENTRY_BYTES = 78  # a visual sample entry's own fields; its child boxes (avcC, hvcC, pasp, …) follow


def _sample_entry_sizes(f: BinaryIO, start: int, end: int) -> list[tuple[int, int]]:
    # stsd: version/flags (4), entry count (4), then visual sample entries whose width and height sit
    # 24 bytes into each entry's payload (reserved 6, data reference 2, pre-defined and reserved 16)
    out = []
    for n, (_, lo, hi) in enumerate(_boxes(f, start + 8, end)):
        if n > MAX_ELEMENTS:
            raise HeaderError("its header is malformed")
        if hi - lo >= 28:
            f.seek(lo + 24)
            out.append(struct.unpack(">HH", _read_exact(f, 4)))
        for kind, clo, chi in _boxes(f, lo + VISUAL_ENTRY_BYTES, hi) if hi - lo > VISUAL_ENTRY_BYTES else ():
            if kind in CONFIG_READERS:
                out.extend(_config_sizes(f, kind, clo, chi))
    return out


def _config_sizes(f: BinaryIO, codec: bytes | str, start: int, end: int) -> list[tuple[int, int]]:
    """The sizes the parameter sets in a decoder configuration record give."""
    if end - start > MAX_CONFIG_BYTES:
        raise HeaderError("its decoder configuration is malformed")
    f.seek(start)
    try:
        return CONFIG_READERS[codec](_read_exact(f, end - start))
    except ParameterSetError as exc:
        raise HeaderError(str(exc)) from exc


# ---- Matroska / WebM (EBML) ---------------------------------------------------------------------

_SEGMENT, _TRACKS, _TRACK_ENTRY, _VIDEO = 0x18538067, 0x1654AE6B, 0xAE, 0xE0
_PIXEL_WIDTH, _PIXEL_HEIGHT, _CLUSTER = 0xB0, 0xBA, 0x1F43B675
_CODEC_ID, _CODEC_PRIVATE = 0x86, 0x63A2


def _vint(f: BinaryIO, keep_marker: bool) -> tuple[int, int, bool]:
    """(value, length in bytes, all value bits set: the 'unknown size' marker) of an EBML variable integer."""
    first = _read_exact(f, 1)[0]
    if first == 0:
        raise HeaderError("its header is malformed")
    length = 8 - first.bit_length() + 1
    value = first if keep_marker else first & (0xFF >> length)
    for byte in _read_exact(f, length - 1):
        value = (value << 8) | byte
    unknown = not keep_marker and value == (1 << (7 * length)) - 1
    return value, length, unknown


def mkv_frame_size(f: BinaryIO, file_size: int) -> tuple[int, int]:
    sizes: list[tuple[int, int]] = []
    seen = 0

    def walk(start: int, end: int) -> None:
        nonlocal seen
        pos = start
        while pos < end:
            seen += 1
            if seen > MAX_ELEMENTS:
                raise HeaderError("its header is malformed")
            f.seek(pos)
            element, id_len, _ = _vint(f, keep_marker=True)
            size, size_len, unknown = _vint(f, keep_marker=False)
            lo = pos + id_len + size_len
            hi = end if unknown else min(lo + size, end)
            if element == _CLUSTER:
                return  # frames start here; the track headers come before them
            if element in (_SEGMENT, _TRACKS):
                walk(lo, hi)
            elif element == _TRACK_ENTRY:
                sizes.extend(_track_video_size(f, lo, hi))
            if unknown:
                return
            pos = hi

    walk(0, file_size)
    if not sizes:
        raise HeaderError("it has no video stream (an audio-only file?)")
    return max(w for w, _ in sizes), max(h for _, h in sizes)


def _track_video_size(f: BinaryIO, start: int, end: int) -> list[tuple[int, int]]:
    """A video track's PixelWidth/PixelHeight and, for H.264/HEVC, the sizes its CodecPrivate's parameter sets give
    (which may come before or after the Video element)."""
    sizes: list[tuple[int, int]] = []
    codec, private = "", None
    pos = start
    while pos < end:
        f.seek(pos)
        element, id_len, _ = _vint(f, keep_marker=True)
        size, size_len, _ = _vint(f, keep_marker=False)
        lo = pos + id_len + size_len
        if element == _VIDEO:
            dims = {_PIXEL_WIDTH: 0, _PIXEL_HEIGHT: 0}
            inner = lo
            while inner < lo + size:
                f.seek(inner)
                child, cid_len, _ = _vint(f, keep_marker=True)
                csize, csize_len, _ = _vint(f, keep_marker=False)
                if child in dims and 1 <= csize <= 8:
                    dims[child] = int.from_bytes(_read_exact(f, csize), "big")
                inner += cid_len + csize_len + csize
            sizes.append((dims[_PIXEL_WIDTH], dims[_PIXEL_HEIGHT]))
        elif element == _CODEC_ID and size <= 64:
            codec = _read_exact(f, size).rstrip(b"\0").decode("ascii", "replace")
        elif element == _CODEC_PRIVATE:
            private = (lo, lo + size)
        pos = lo + size
    if sizes and private and codec in CONFIG_READERS:
        sizes.extend(_config_sizes(f, codec, *private))
    return sizes


# ---- AVI (RIFF) ---------------------------------------------------------------------------------


def avi_frame_size(f: BinaryIO, file_size: int) -> tuple[int, int]:
    """The main header's size and each video stream's bitmap header size (biHeight may be negative)."""
    sizes: list[tuple[int, int]] = []
    seen = 0

    def walk(start: int, end: int, stream_type: list[bytes]) -> None:
        nonlocal seen
        pos = start
        while pos + 8 <= end:
            seen += 1
            if seen > MAX_ELEMENTS:
                raise HeaderError("its header is malformed")
            f.seek(pos)
            kind, size = struct.unpack("<4sI", _read_exact(f, 8))
            lo, hi = pos + 8, min(pos + 8 + size, end)
            if kind == b"LIST":
                list_type = _read_exact(f, 4)
                if list_type == b"movi":
                    return  # frames start here
                walk(lo + 4, hi, [b""])
            elif kind == b"avih" and size >= 40:
                f.seek(lo + 32)
                sizes.append(struct.unpack("<II", _read_exact(f, 8)))
            elif kind == b"strh" and size >= 4:
                stream_type[0] = _read_exact(f, 4)
            elif kind == b"strf" and stream_type[0] == b"vids" and size >= 12:
                f.seek(lo + 4)
                w, h = struct.unpack("<ii", _read_exact(f, 8))
                sizes.append((abs(w), abs(h)))
            pos = lo + size + (size & 1)  # chunks are padded to even sizes

    walk(12, file_size, [b""])
    if not sizes:
        raise HeaderError("it has no video stream header")
    return max(w for w, _ in sizes), max(h for _, h in sizes)


READERS = {"MP4/MOV": mp4_frame_size, "MOV": mp4_frame_size, "Matroska/WebM": mkv_frame_size,
           "AVI": avi_frame_size}


def declared_frame_size(f: BinaryIO, kind: str, file_size: int) -> tuple[int, int] | None:
    """The largest frame size the container declares, or None when this container kind has no reader here."""
    reader = READERS.get(kind)
    return reader(f, file_size) if reader else None
