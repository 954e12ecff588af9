"""The user message VideoScore2 was trained on, byte for byte (see shared/spec/videoscore2.md)."""

from __future__ import annotations

import re
from typing import Any

from vs2demo.core.dimensions import DIMENSIONS
from vs2demo.core.errors import InputError
from vs2demo.core.options import OFFICIAL_FPS

# Built from DIMENSIONS so the dimension wording lives in one place; the result is pinned to the
# spec's literal bytes by tests/test_prompt.py. Note the EN DASH (U+2013), the four-space indents,
# the trailing spaces after "<v_score>;" and "<t_score>," and the final newline plus four spaces.
_INDENT = "    "
# Fixed text the model was trained on: "three" here is the official wording, not built from DIMENSIONS.
_HEADER = "You are an expert for evaluating AI-generated videos from three dimensions:"
# the format lines end "; ", ", " and nothing: the official separators, trailing spaces included
_SCORE_LINES = tuple(f"{d.label}: {d.placeholder}{sep}" for d, sep in zip(DIMENSIONS, ("; ", ", ", "")))


def _template() -> str:
    described = [f"({i}) {d.label} \u2013 {d.descriptor}" for i, d in enumerate(DIMENSIONS, 1)]
    described = [line + (";" if i < len(described) - 1 else ".") for i, line in enumerate(described)]
    lines = [_HEADER, *described, "", "Video prompt: {prompt}", "", "Please output in this format:",
             *_SCORE_LINES]
    # Starts with a newline; blank lines carry no indent; ends with a newline plus the bare indent.
    return "\n" + "\n".join(_INDENT + line if line else line for line in lines) + "\n" + _INDENT


_PREFIX, _SUFFIX = _template().split("{prompt}")

# Strings like <|im_end|> are Qwen's control tokens: inside a prompt they would end the user turn
# early and let text pose as the assistant, so such prompts are refused, never silently rewritten.
_SPECIAL_TOKEN = re.compile(r"<\|[A-Za-z0-9_]+\|>")

MAX_PROMPT_CHARS = 2000


def validate_prompt(prompt: str | None) -> str:
    """Return the prompt unchanged, or raise InputError with what is wrong."""
    if prompt is None or not prompt.strip():
        raise InputError("The text-to-video prompt is empty: type the prompt the video was generated from.")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise InputError(f"The prompt is {len(prompt)} characters long; the limit is {MAX_PROMPT_CHARS}.")
    token = _SPECIAL_TOKEN.search(prompt)
    if token:
        raise InputError(
            f"The prompt contains the control token {token.group(0)!r}, which would break out of the user "
            "turn; remove it."
        )
    return prompt


def user_text(prompt: str, allow_empty: bool = False) -> str:
    """The exact text of the user turn for a text-to-video prompt (no escaping, no trimming).
    ``allow_empty``: the evidence probe "is the judge reading the prompt?" asks with an empty one on purpose."""
    # Concatenation, not str.format / string.Template: '$', braces and backslashes stay literal.
    return _PREFIX + ("" if allow_empty and prompt == "" else validate_prompt(prompt)) + _SUFFIX


def messages(prompt: str, video: Any, fps: float = OFFICIAL_FPS, allow_empty: bool = False) -> list[dict[str, Any]]:
    """The chat the official script builds: one user turn, video item first, then the text."""
    return [{"role": "user", "content": [
        {"type": "video", "video": video, "fps": fps},
        {"type": "text", "text": user_text(prompt, allow_empty)},
    ]}]
