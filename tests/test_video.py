"""Frame planning and reading against qwen-vl-utils 0.0.14, which defines the official frames."""

from pathlib import Path

import numpy as np
import pytest
import torch
from qwen_vl_utils import vision_process as qv

from vs2demo.core.errors import InputError
from vs2demo.input import video
from vs2demo.input.framing import VideoInfo, frame_count, frame_indices, per_frame_max_pixels, plan_frames, smart_resize


@pytest.mark.parametrize("total,native,fps", [
    (120, 24, 2.0), (121, 24, 2.0), (7, 30, 2.0), (4, 25, 2.0), (5, 25, 2.0), (1440, 24, 2.0), (18000, 30, 2.0),
    (3600, 59.94, 2.0), (250, 25, 0.5), (250, 25, 6.0), (95, 29.97, 2.0), (60, 1000, 2.0), (31, 7.5, 2.0),
])
def test_frame_count_and_indices_match_qwen_vl_utils(total, native, fps) -> None:
    n = frame_count(total, native, fps)
    assert n == qv.smart_nframes({"fps": fps}, total_frames=total, video_fps=native)
    assert list(frame_indices(total, n)) == torch.linspace(0, total - 1, n).round().long().tolist()


@pytest.mark.parametrize("h,w,n", [(720, 1280, 10), (1080, 1920, 120), (240, 320, 6), (9, 17, 4), (2160, 3840, 20),
                                   (1920, 1080, 8), (100, 2000, 4), (1080, 1920, 768), (480, 640, 400)])
def test_resize_matches_qwen_vl_utils(h, w, n) -> None:
    min_px = qv.VIDEO_MIN_TOKEN_NUM * 28 * 28
    total_px = qv.MODEL_SEQ_LEN * 28 * 28 * 0.9
    max_px = max(min(qv.VIDEO_MAX_TOKEN_NUM * 28 * 28, total_px / n * qv.FRAME_FACTOR), int(min_px * 1.05))
    assert smart_resize(h, w, min_px, per_frame_max_pixels(n)) == qv.smart_resize(
        h, w, factor=28, min_pixels=min_px, max_pixels=max_px)


def test_spec_example_5s_720p_24fps() -> None:
    plan = plan_frames(VideoInfo("x.mp4", 120, 24.0, 1280, 720, 1))
    assert len(plan.indices) == 10 and (plan.resized_width, plan.resized_height) == (1008, 560)
    assert 3500 < plan.visual_tokens < 3700
    assert plan.timestamps[0] == 0 and plan.timestamps[-1] == pytest.approx(119 / 24)


def test_too_few_frames_refused() -> None:
    with pytest.raises(InputError, match="frame"):
        frame_count(1, 24, 2.0)


CLIPS = [(3.0, 24, (320, 240)), (0.5, 30, (176, 144)), (7.3, 25, (640, 360)), (2.0, 12, (360, 640)),
         (4.0, 29.97, (1280, 720))]


@pytest.mark.parametrize("seconds,fps,size", CLIPS)
def test_frames_bit_identical_to_qwen_vl_utils(make_clip, seconds, fps, size) -> None:
    path = make_clip(seconds, fps, size)
    ours = video.load_frames(path)
    ref, meta = qv.fetch_video({"video": path, "fps": 2.0}, return_video_metadata=True)
    assert list(ours.plan.indices) == meta["frames_indices"]
    assert ours.plan.info.native_fps == pytest.approx(meta["fps"])
    expected = ref.to(torch.uint8).permute(0, 2, 3, 1).numpy()
    assert ref.dtype == torch.float32 and torch.equal(ref, ref.round())  # integer-valued floats
    assert ours.array.shape == expected.shape
    assert np.array_equal(ours.array, expected)


@pytest.mark.parametrize("seconds,fps,size", CLIPS[:3])
def test_model_inputs_match_process_vision_info_and_processor(evaluator, make_clip, seconds, fps, size) -> None:
    from tests.official import official_inputs

    path = make_clip(seconds, fps, size)
    prompt = "a square crossing a gradient"
    clip, _ = evaluator.prepare(path)
    ours = evaluator.model_inputs([clip], [prompt])
    ref = official_inputs(evaluator.processor, path, prompt)
    for key in ("input_ids", "attention_mask", "pixel_values_videos", "video_grid_thw", "mm_token_type_ids"):
        assert torch.equal(ours[key], ref[key]), key
    # transformers 4.53.2 with fps=2.0 spaces temporal patches by 2 / 2.0 = 1.0 s; called without
    # metadata, transformers 5 gets 1/12 (the spec's trap): ours must keep the official value.
    assert ours["second_per_grid_ts"].tolist() == [1.0]


def test_read_decodes_only_planned_frames(make_clip, monkeypatch) -> None:
    import decord

    path = make_clip(6.0, 24, (320, 240))
    asked: list[int] = []
    real = decord.VideoReader.get_batch

    def spy(self, indices):
        asked.extend(indices)
        return real(self, indices)

    monkeypatch.setattr(decord.VideoReader, "get_batch", spy)
    frames = video.load_frames(path)
    assert sorted(asked) == sorted(frames.plan.indices) and len(asked) == 12


@pytest.mark.parametrize("content,message", [
    (b"", "empty"), (b"\x89PNG\r\n\x1a\n" + b"0" * 100, "PNG"), (b"ID3\x03" + b"0" * 100, "MP3"),
    (bytes(range(256)) * 4, "not a video"), (b"hello world, not a video at all", "not a video"),
])
def test_probe_refuses_non_videos_by_content(tmp_path, content, message) -> None:
    path = tmp_path / "upload.mp4"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        video.probe(path)


def test_probe_refuses_truncated_mp4(tmp_path, make_clip) -> None:
    data = Path(make_clip(3.0)).read_bytes()
    path = tmp_path / "cut.mp4"
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(InputError):
        video.load_frames(path)


def test_limits_refuse_long_large_and_missing(make_clip, tmp_path) -> None:
    from vs2demo.core.options import Limits

    path = make_clip(3.0)
    with pytest.raises(InputError, match="limit is 2 s"):
        video.probe(path, Limits(max_duration_s=2))
    with pytest.raises(InputError, match="px on the longer side"):
        video.probe(path, Limits(max_side_px=100))
    with pytest.raises(InputError, match="MB"):
        video.probe(path, Limits(max_file_mb=0.001))
    with pytest.raises(InputError, match="No such file"):
        video.probe(tmp_path / "missing.mp4")
