"""Tools for programs and AI agents (MCP): score, compare and rank, each returning the result as JSON.

The page's own endpoints stream HTML, charts and galleries and keep per-visitor state; an agent wants one JSON
answer. These run the very same handlers (ui.py) to their end and return their JSON output, so the page, the API
and MCP can never disagree. Gradio's MCP server (``python app.py --mcp``) lists them by their method names, with
their docstrings as descriptions.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from gradio.data_classes import FileData

from vs2demo.analysis.rank import OVERALL
from vs2demo.core.options import OFFICIAL_FPS, OFFICIAL_MAX_NEW_TOKENS, OFFICIAL_TEMPERATURE
from vs2demo.serve.handlers import COMPARE_VIEW, RANK_VIEW, SCORE_VIEW, DemoApp, View


def _path(file: Any) -> str | None:
    """The server path of a file an API or MCP client sent (a FileData, or its plain dict form)."""
    if file is None:
        return None
    return file.get("path") if isinstance(file, dict) else getattr(file, "path", None)


def _json(view: View, updates: Iterator[tuple]) -> str:
    """Run a handler to its end; its JSON output from the last update that carried one, as JSON text (what an
    agent reads; Gradio would hand a dict over as Python's repr)."""
    index = view.outputs.index("json")
    data: Any = None
    for update in updates:
        if isinstance(update[index], dict):
            data = update[index]
    return json.dumps(data or {}, ensure_ascii=False)


class AgentTools:
    def __init__(self, app: DemoApp) -> None:
        self.app = app

    def score(self, video: FileData, prompt: str, seed: int | None = None, samples: int = 1,
              fps: float = OFFICIAL_FPS, temperature: float = OFFICIAL_TEMPERATURE,
              max_new_tokens: int = OFFICIAL_MAX_NEW_TOKENS) -> str:
        """Score one AI-generated video with VideoScore2 (visual quality, text-to-video alignment and
        physical/common-sense consistency, each 1 to 5) and return the result as JSON text: "scores" holds, per
        dimension, the written score ("hard"), the official soft score, the expected score and p(1..5);
        "raw_output" holds the model's reasoning. Leave the settings out for the official run.

        Args:
            video: the video file to score.
            prompt: the text-to-video prompt the video was generated from.
            seed: a whole number for a reproducible run; leave empty for a random one (official).
            samples: score K times (1, 4, 8 or 16) to see how stable each score is; 1 is official.
            fps: frames per second the model watches (official 2).
            temperature: sampling temperature (official 0.7).
            max_new_tokens: the longest reasoning allowed, in tokens (official 1024).
        """
        return _json(SCORE_VIEW, self.app.score(_path(video), prompt, "" if seed is None else str(seed), False,
                                                temperature, max_new_tokens, fps, samples))

    def compare(self, video_a: FileData, video_b: FileData, prompt: str, seed: int | None = None,
                samples: int = 1) -> str:
        """Compare two AI-generated videos made for the same prompt with VideoScore2 and return both results as
        JSON text ("clip_a", "clip_b"); the better clip per dimension and overall is the one with the higher score
        (overall: the sum of the three). With samples > 1, "verdict" counts wins over paired samples.

        Args:
            video_a: the first video file.
            video_b: the second video file.
            prompt: the prompt both videos were generated from.
            seed: a whole number for a reproducible run; leave empty for a random one (official).
            samples: K paired samples (1, 4, 8 or 16); a clip is better when it wins at least 75% of the pairs.
        """
        return _json(COMPARE_VIEW, self.app.compare(_path(video_a), _path(video_b), prompt, False, None,
                                                    "" if seed is None else str(seed), samples=samples))

    def rank(self, videos: list[FileData], prompt: str, by: str = OVERALL, seed: int | None = None,
             samples: int = 1) -> str:
        """Best-of-N: rank 2 to 8 AI-generated videos made for one prompt by the sum of VideoScore2's official
        soft scores (or one dimension's) and return the leaderboard and every clip's result as JSON text.

        Args:
            videos: 2 to 8 video files generated for the same prompt.
            prompt: the prompt every video was generated from.
            by: "overall" (the sum of the three) or visual_quality, text_to_video_alignment, physical_consistency.
            seed: a whole number for a reproducible run; leave empty for a random one (official).
            samples: K samples per clip (1, 4, 8 or 16); the leaderboard counts how often each clip ranked first.
        """
        return _json(RANK_VIEW, self.app.rank([_path(v) for v in videos or []], prompt, by,
                                              "" if seed is None else str(seed), samples=samples))
