"""The frame size a stream's own parameter sets give (H.264 SPS, HEVC SPS), read from the decoder configuration a
container carries (MP4 ``avcC``/``hvcC`` boxes, Matroska ``CodecPrivate``).

A container's size fields (``tkhd``, the sample entry, Matroska's PixelWidth) are labels: the decoder ignores them
and allocates what the sequence parameter set says. A file whose labels say 64×64 while its SPS says 16000×16000
passes a label check and then costs gigabytes per decoded frame. These parsers read the SPS fields up to the
picture size (a few dozen bytes, pure bit arithmetic) so the real size is known before any decoder opens the file.
"""

from __future__ import annotations

MAX_GOLOMB_ZEROS = 31  # a longer prefix cannot encode a 32-bit value: the stream is malformed
_HIGH_PROFILES = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}  # SPS carries chroma/bit depth
H264_SPS, HEVC_SPS = 7, 33  # NAL unit types


class ParameterSetError(ValueError):
    """A parameter set is cut short or malformed."""


class _Bits:
    """An MSB-first bit reader over an RBSP (emulation prevention bytes already removed)."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def u(self, n: int) -> int:
        value = 0
        for _ in range(n):
            byte = self.pos >> 3
            if byte >= len(self.data):
                raise ParameterSetError("its parameter set is cut short")
            value = (value << 1) | ((self.data[byte] >> (7 - (self.pos & 7))) & 1)
            self.pos += 1
        return value

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > MAX_GOLOMB_ZEROS:
                raise ParameterSetError("its parameter set is malformed")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        k = self.ue()
        return (k + 1) // 2 if k & 1 else -(k // 2)


def rbsp(nal: bytes) -> bytes:
    """The payload with emulation prevention bytes (00 00 03 → 00 00) removed."""
    out, zeros = bytearray(), 0
    for byte in nal:
        if zeros >= 2 and byte == 3:
            zeros = 0
            continue
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def h264_sps_size(nal: bytes) -> tuple[int, int]:
    """(width, height) of an H.264 sequence parameter set NAL unit (header byte included), cropping applied."""
    b = _Bits(rbsp(nal[1:]))
    profile = b.u(8)
    b.u(16)  # constraint flags, level
    b.ue()  # seq_parameter_set_id
    chroma = 1
    if profile in _HIGH_PROFILES:
        chroma = b.ue()
        if chroma == 3:
            b.u(1)  # separate_colour_plane_flag
        b.ue()  # bit_depth_luma_minus8
        b.ue()  # bit_depth_chroma_minus8
        b.u(1)  # qpprime_y_zero_transform_bypass_flag
        if b.u(1):  # seq_scaling_matrix_present_flag
            for i in range(8 if chroma != 3 else 12):
                if b.u(1):
                    _skip_scaling_list(b, 16 if i < 6 else 64)
    b.ue()  # log2_max_frame_num_minus4
    poc_type = b.ue()
    if poc_type == 0:
        b.ue()
    elif poc_type == 1:
        b.u(1)
        b.se()
        b.se()
        for _ in range(min(b.ue(), 255)):
            b.se()
    b.ue()  # max_num_ref_frames
    b.u(1)  # gaps_in_frame_num_value_allowed_flag
    width_mbs, height_units = b.ue() + 1, b.ue() + 1
    frame_mbs_only = b.u(1)
    if not frame_mbs_only:
        b.u(1)  # mb_adaptive_frame_field_flag
    b.u(1)  # direct_8x8_inference_flag
    width, height = width_mbs * 16, (2 - frame_mbs_only) * height_units * 16
    if b.u(1):  # frame_cropping_flag: offsets in chroma sample units
        left, right, top, bottom = b.ue(), b.ue(), b.ue(), b.ue()
        unit_x = 2 if chroma in (1, 2) else 1
        unit_y = (2 if chroma == 1 else 1) * (2 - frame_mbs_only)
        width = max(width - unit_x * (left + right), 1)
        height = max(height - unit_y * (top + bottom), 1)
    return width, height


def _skip_scaling_list(b: _Bits, size: int) -> None:
    last = following = 8
    for _ in range(size):
        if following:
            following = (last + b.se() + 256) % 256
        last = following or last


def hevc_sps_size(nal: bytes) -> tuple[int, int]:
    """(width, height) of an HEVC sequence parameter set NAL unit (two header bytes included), conformance window
    applied."""
    b = _Bits(rbsp(nal[2:]))
    b.u(4)  # sps_video_parameter_set_id
    sub_layers = b.u(3)
    b.u(1)  # temporal_id_nesting
    b.u(96)  # general profile, tier, flags and level
    present = [(b.u(1), b.u(1)) for _ in range(sub_layers)]
    if sub_layers:
        b.u(2 * (8 - sub_layers))  # reserved
    for profile, level in present:
        b.u(88 * profile + 8 * level)
    b.ue()  # sps_seq_parameter_set_id
    chroma = b.ue()
    if chroma == 3:
        b.u(1)
    width, height = b.ue(), b.ue()
    if b.u(1):  # conformance_window_flag: offsets in chroma sample units
        left, right, top, bottom = b.ue(), b.ue(), b.ue(), b.ue()
        unit_x, unit_y = (2 if chroma in (1, 2) else 1), (2 if chroma == 1 else 1)
        width = max(width - unit_x * (left + right), 1)
        height = max(height - unit_y * (top + bottom), 1)
    return width, height


def avcc_sizes(config: bytes) -> list[tuple[int, int]]:
    """The size of every SPS in an AVCDecoderConfigurationRecord (``avcC``; Matroska's AVC CodecPrivate)."""
    if len(config) < 6:
        raise ParameterSetError("its decoder configuration is cut short")
    count, pos, sizes = config[5] & 0x1F, 6, []
    for _ in range(count):
        nal, pos = _sized(config, pos)
        sizes.append(h264_sps_size(nal))
    return sizes


def hvcc_sizes(config: bytes) -> list[tuple[int, int]]:
    """The size of every SPS in an HEVCDecoderConfigurationRecord (``hvcC``; Matroska's HEVC CodecPrivate)."""
    if len(config) < 23:
        raise ParameterSetError("its decoder configuration is cut short")
    arrays, pos, sizes = config[22], 23, []
    for _ in range(arrays):
        if pos + 3 > len(config):
            raise ParameterSetError("its decoder configuration is cut short")
        nal_type, count = config[pos] & 0x3F, int.from_bytes(config[pos + 1:pos + 3], "big")
        pos += 3
        for _ in range(count):
            nal, pos = _sized(config, pos)
            if nal_type == HEVC_SPS:
                sizes.append(hevc_sps_size(nal))
    return sizes


def _sized(config: bytes, pos: int) -> tuple[bytes, int]:
    """A NAL unit with a 16-bit length in front, and the position after it."""
    if pos + 2 > len(config):
        raise ParameterSetError("its decoder configuration is cut short")
    length = int.from_bytes(config[pos:pos + 2], "big")
    if length < 2 or pos + 2 + length > len(config):
        raise ParameterSetError("its decoder configuration is cut short")
    return config[pos + 2:pos + 2 + length], pos + 2 + length


# configuration box (MP4) or Matroska codec id -> the reader of its parameter sets
CONFIG_READERS = {b"avcC": avcc_sizes, b"hvcC": hvcc_sizes, "V_MPEG4/ISO/AVC": avcc_sizes,
                  "V_MPEGH/ISO/HEVC": hvcc_sizes}
MAX_CONFIG_BYTES = 1 << 16  # parameter sets are a few hundred bytes; a larger record is not read
