"""What a visitor sends, checked: uploaded paths only, settings typed against the page's limits, messages that
name files, not server paths, and the session's last result."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.utils import get_upload_folder

from vs2demo.analysis.result import Result
from vs2demo.core.errors import InputError, VS2Error
from vs2demo.core.options import GenerationOptions
from vs2demo.serve.run_settings import run_options, seed_from_text

ASSETS = Path(__file__).resolve().parents[2] / "assets"  # the repository's assets/, beside the package


log = logging.getLogger(__name__)


def uploaded(video: str | None) -> str:
    """The path of an upload, refusing anything else an API caller might send.

    Gradio hands a handler whatever path a client names; only files inside Gradio's upload folder or
    our own examples are served, so '/etc/passwd' or '../..' is refused before a byte is read.
    """
    if not video:
        raise user_error("Upload a video (or pick an example) first.")
    real = Path(os.path.realpath(video))
    roots = [Path(os.path.realpath(get_upload_folder())), Path(os.path.realpath(ASSETS))]
    if not any(real.is_relative_to(root) for root in roots):
        raise user_error("Only uploaded videos can be evaluated: file paths on the server are not accepted.")
    return str(real)


def public(message: str, paths: list[str | None]) -> str:
    """A message as a visitor sees it: every server path of this request replaced by the file's own name."""
    for path in paths:
        if path:
            for form in {path, os.path.realpath(path)}:
                message = message.replace(form, Path(form).name)
    return message


def parse_seconds(text: str | None) -> tuple[float, ...]:
    """"1.5, 3 s" → (1.5, 3.0): seconds of a clip, as picked on a frame strip or typed (a remark's, or those an
    explanation re-generates without)."""
    out = []
    for part in (text or "").replace(";", ",").split(","):
        part = part.strip().removesuffix("s").strip()
        if not part:
            continue
        try:
            value = float(part)
        except ValueError as exc:
            raise InputError(f"seconds must be numbers such as 1.5, 3 (got {part[:20]!r})") from exc
        if not math.isfinite(value) or value < 0:
            raise InputError(f"seconds must be times in the clip such as 1.5, 3 (got {part[:20]!r})")
        out.append(value)
    return tuple(out)


def _number(value: object) -> object:
    """A number as a raw HTTP caller may send it (as text); anything else is left for run_options to refuse."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def page_options(seed: str | float | None, greedy: bool, temperature: float, max_new_tokens: float, fps: float,
             samples: float | None = 1) -> GenerationOptions:
    """The page's values (a text seed box, numbers as its components send them) as typed options, checked against
    the page's limits by the same parser the JSON tools use."""
    return checked(lambda: run_options(seed=seed_from_text(seed), greedy=bool(greedy),  # the seed's error too
                                       temperature=_number(temperature), max_new_tokens=_number(max_new_tokens),
                                       fps=_number(fps), samples=_number(samples or 1)))


def checked(make: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``make(...)``, with a user's error (InputError) turned into the page's one-line message."""
    try:
        return make(*args, **kwargs)
    except VS2Error as exc:
        raise user_error(str(exc)) from exc


def page_result(samples: tuple[Result, ...] | None, what: str) -> Result:
    """The session's last result (its first sample), or one clear message when there is none yet."""
    if not samples or not all(isinstance(r, Result) for r in samples):
        raise user_error(f"Evaluate a clip first (press Evaluate): {what} this page's result.")
    return samples[0]


def owner_of(request: gr.Request | None) -> str:
    return request.session_hash if request is not None and request.session_hash else "anonymous"


def user_error(message: str, logged: bool = False, toast: bool = True) -> gr.Error:
    """A visitor's mistake (or a refusal), as the page's one message: logged as one line (unless ``logged`` says
    it was told already), no traceback (Gradio would print one for every bad upload); ``toast=False`` where the
    page tells it in place (API callers get the error either way)."""
    if not logged:
        log.info("refused for a visitor: %s", message)
    return gr.Error(message, print_exception=False, visible=toast)


def fault_logged(exc: VS2Error) -> None:
    """One line for what a visitor can fix (bad input); the whole story for what they cannot (a model that failed)."""
    if isinstance(exc, InputError):
        log.info("refused for a visitor: %s", exc)
    else:
        log.warning("failed for a visitor: %s", exc, exc_info=exc)
