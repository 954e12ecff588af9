"""Tools for programs and AI agents (MCP): score, compare and rank, each returning the result as JSON.

The page's own endpoints stream HTML, charts and galleries and keep per-visitor state; an agent wants one JSON
answer. These call the same core as the page (DemoApp's jobs, its run with the visitor's bounds and the
abandoned-run watch, and the same JSON builders) with typed settings checked by the same parser and limits
(run_settings.py), so they score alike; one difference: the page's ranking leaves an unreadable clip out and says
so, while the rank tool refuses the whole call. Gradio's MCP server (``python app.py --mcp``)
lists them by their method names, with their docstrings as descriptions.
"""

from __future__ import annotations

import json
from typing import Any

import gradio as gr
from gradio.data_classes import FileData

from vs2demo.core.dimensions import OVERALL
from vs2demo.core.options import OFFICIAL_FPS, OFFICIAL_MAX_NEW_TOKENS, OFFICIAL_TEMPERATURE
from vs2demo.serve.handlers import DemoApp
from vs2demo.serve.outcomes import compare_data, rank_data, score_data
from vs2demo.serve.requests import checked
from vs2demo.serve.run_settings import run_options


def _path(file: Any) -> str | None:
    """The server path of a file an API or MCP client sent (a FileData, or its plain dict form)."""
    if file is None:
        return None
    return file.get("path") if isinstance(file, dict) else getattr(file, "path", None)


def _text(data: dict) -> str:
    """JSON text (what an agent reads; Gradio would hand a dict over as Python's repr)."""
    return json.dumps(data, ensure_ascii=False)


class AgentTools:
    def __init__(self, app: DemoApp) -> None:
        self.app = app

    def score(self, video: FileData, prompt: str, seed: int | None = None, samples: int = 1,
              fps: float = OFFICIAL_FPS, temperature: float = OFFICIAL_TEMPERATURE,
              max_new_tokens: int = OFFICIAL_MAX_NEW_TOKENS, request: gr.Request = None) -> str:
        """Score one AI-generated video with VideoScore2 (visual quality, text-to-video alignment and
        physical/common-sense consistency, each 1 to 5) and return the result as JSON text: "scores" holds, per
        dimension, the written score ("hard"), the official soft score, the expected score and p(1..5);
        "raw_output" holds the model's reasoning. Leave the settings out for the official run.

        Args:
            video: the video file to score.
            prompt: the text-to-video prompt the video was generated from.
            seed: a whole number for a reproducible run; leave empty for a random one (official).
            samples: score K times (1, 4, 8 or 16) to see how stable each score is; 1 is official.
            fps: frames per second the model watches (official 2; 0.5 to 8 on this server).
            temperature: sampling temperature (official 0.7; 0.05 to 2).
            max_new_tokens: the longest reasoning allowed, in tokens (official 1024; 16 to 2048).
        """
        jobs = self.app.score_jobs(_path(video), prompt)
        options = checked(run_options, seed=seed, samples=samples, fps=fps, temperature=temperature,
                          max_new_tokens=max_new_tokens)
        return _text(score_data(self.app.finished(jobs, options, request).samples[0]))

    def compare(self, video_a: FileData, video_b: FileData, prompt: str, seed: int | None = None,
                samples: int = 1, request: gr.Request = None) -> str:
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
        jobs = self.app.compare_jobs(_path(video_a), _path(video_b), prompt)
        options = checked(run_options, seed=seed, samples=samples)
        return _text(compare_data(self.app.finished(jobs, options, request)))

    def rank(self, videos: list[FileData], prompt: str, by: str = OVERALL, seed: int | None = None,
             samples: int = 1, request: gr.Request = None) -> str:
        """Best-of-N: rank 2 to 8 AI-generated videos made for one prompt by the sum of VideoScore2's official
        soft scores (or one dimension's) and return the leaderboard and every clip's result as JSON text.

        Args:
            videos: 2 to 8 video files generated for the same prompt.
            prompt: the prompt every video was generated from.
            by: "overall" (the sum of the three) or visual_quality, text_to_video_alignment, physical_consistency.
            seed: a whole number for a reproducible run; leave empty for a random one (official).
            samples: K samples per clip (1, 4, 8 or 16); the leaderboard counts how often each clip ranked first.
        """
        jobs = self.app.rank_jobs([_path(v) for v in videos or []] if isinstance(videos, list) else [], prompt, by)
        options = checked(run_options, seed=seed, samples=samples)
        return _text(rank_data(self.app.finished(jobs, options, request), prompt, by))
