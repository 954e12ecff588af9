"""The vision encoder run once per clip for a batch, its features shared by every row that shows that clip.

K samples of one clip (or a clip's K rows in compare and rank) used to carry K concatenated copies of the clip's
pixel tensor into generate(), which ran the vision encoder K times: memory grew with rows × pixels (samples=16 on a
long low-bitrate clip passed 9 GB). Here the batch carries no pixels: each distinct clip is encoded once, exactly as
generate() would encode it alone (the same call on the same tensor, so every row sees the features a single run
sees), and generate() receives the features as its precomputed ``mm_encoder_outputs``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

ROW_PIXELS = "vs2_row_pixels"  # in a batch's inputs: each row's clip pixel tensor (shared objects, never copies)


def encode_rows(model: Any, row_pixels: Sequence[Any], grids: Any) -> Any:
    """Vision features for every row (``grids``: each row's video_grid_thw), one encoder pass per distinct clip
    tensor; the result is what generate() passes on as ``mm_encoder_outputs["video"]``."""
    from transformers.modeling_outputs import BaseModelOutputWithPooling

    features: dict[int, Any] = {}
    rows = []
    for i, pixels in enumerate(row_pixels):
        if id(pixels) not in features:
            out = model.get_video_features(pixels.to(model.device, model.dtype), grids[i:i + 1].to(model.device),
                                           return_dict=True)
            features[id(pixels)] = out.pooler_output[0]
        rows.append(features[id(pixels)])
    return BaseModelOutputWithPooling(pooler_output=tuple(rows))


def with_shared_features(model: Any, inputs: dict[str, Any]) -> dict[str, Any]:
    """``inputs`` (on the model's device) with its rows' clips encoded once each, as generate() takes them."""
    if ROW_PIXELS not in inputs:
        return inputs
    out = dict(inputs)
    row_pixels = out.pop(ROW_PIXELS)
    out["mm_encoder_outputs"] = {"video": encode_rows(model, row_pixels, out["video_grid_thw"])}
    return out
