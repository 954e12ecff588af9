"""Rope position ids as transformers 4.53.2 (the official pin) computes them, for use under transformers 5.

Under 5.23, ``Qwen2_5_VLModel.get_rope_index`` starts the text after a video at
``start + max(H', W')`` (the spatial extent only); 4.53.2 starts it one past the largest vision
position, which for long clips is the temporal one: ``start + max((T-1)·tokens_per_second·s, H'-1, W'-1) + 1``.
The two agree for short clips and drift apart from about 19 s of 720p video, shifting every later token
(scripts/check_fidelity.py shows it). ``install`` puts the official rule on one loaded model instance.
"""

from __future__ import annotations

import itertools
from typing import Any

from vs2demo.engine.hf_internals import replace_rope_index


def official_rope_index(self: Any, input_ids: Any, mm_token_type_ids: Any, image_grid_thw: Any = None,
                        video_grid_thw: Any = None, second_per_grid_ts: Any = None, attention_mask: Any = None,
                        **kwargs: Any) -> tuple[Any, Any]:
    """Same contract as transformers 5's get_rope_index; text after a vision block starts at its max + 1."""
    import torch

    merge = self.config.vision_config.spatial_merge_size
    tokens_per_second = self.config.vision_config.tokens_per_second
    position_ids = torch.zeros(3, *input_ids.shape, dtype=input_ids.dtype, device=input_ids.device)
    grids = {1: iter(image_grid_thw) if image_grid_thw is not None else None,
             2: iter(video_grid_thw) if video_grid_thw is not None else None}
    seconds = iter(second_per_grid_ts) if second_per_grid_ts is not None else iter([1] * input_ids.shape[1])
    deltas = []
    for row, ids in enumerate(input_ids):
        types_row = mm_token_type_ids[row]
        if attention_mask is not None:
            keep = attention_mask[row].bool()
            ids, types_row = ids[keep], types_row[keep]
        pieces = []
        pos = 0
        for modality, group in itertools.groupby(types_row.tolist()):
            length = len(list(group))
            if modality == 0:
                pieces.append(torch.arange(length, device=input_ids.device).view(1, -1).expand(3, -1) + pos)
                pos += length
            else:
                grid = next(grids[modality])
                interval = tokens_per_second * next(seconds) if modality == 2 else 1
                vision = self.get_vision_position_ids(pos, grid, 1, merge, interval, device=input_ids.device)
                pieces.append(vision)
                pos = int(vision.max()) + 1  # the official rule: past every vision position, temporal included
        positions = torch.cat(pieces, dim=1).reshape(3, -1)
        if attention_mask is not None:
            position_ids[:, row, attention_mask[row].bool()] = positions.to(position_ids.device)
        else:
            position_ids[:, row] = positions.to(position_ids.device)
        deltas.append(positions.max() + 1 - len(ids))
    return position_ids, torch.tensor(deltas, device=input_ids.device).unsqueeze(1)


def install(model: Any) -> None:
    """Make ``model`` (a Qwen2_5_VLForConditionalGeneration) use the official rope positions."""
    replace_rope_index(model, official_rope_index)
