"""Before a page run: its clips and prompt checked in a moment (headers only, as cheap as the plan shown on upload).

Each problem is told once, where the visitor is looking after pressing the run's button: in that run's status. The
plan beside a clip at fault, which told the same problem on upload, is cleared. A problem ends the event chain with
an error Gradio does not show as a toast, so the run never starts and no output carries an error mark; API callers,
who never see the page, are told by the run itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import gradio as gr

from vs2demo.core.errors import VS2Error
from vs2demo.input.prompt import validate_prompt
from vs2demo.present import result_html
from vs2demo.serve.requests import public, uploaded, user_error

TWO_CLIPS = "Upload two clips to compare."
Plan = Callable[[str, float], Any]  # the evaluator's plan(path, fps): raises VS2Error for a clip it cannot read


class Refused(Exception):
    """One problem found by a check: its message (server paths replaced by file names) and the clip at fault."""

    def __init__(self, message: str, clip: int | None = None, logged: bool = False) -> None:
        super().__init__(message)
        self.message, self.clip, self.logged = message, clip, logged


def clip_plan(plan: Plan, video: str | None, fps: float, clip: int | None = None) -> Any:
    """The clip's plan; Refused when ``video`` is no upload, or one the evaluator cannot read."""
    try:
        return plan(uploaded(video), float(fps))
    except gr.Error as exc:  # uploaded() logged it already
        raise Refused(public(exc.message, [video]), clip, logged=True) from exc
    except VS2Error as exc:
        raise Refused(public(str(exc), [video]), clip) from exc


def prompt_problem(prompt: str, label: str = "") -> None:
    try:
        validate_prompt(prompt)
    except VS2Error as exc:
        raise Refused(f"{label}{exc}") from exc


def told(check: Callable[[], None], plans: int, ready: str) -> Iterator[Any]:
    """Run ``check``; yield the status (and each plan's value: cleared for the clip at fault, else unchanged), then
    either end the chain without a toast (a problem) or return with ``ready`` in the status."""
    try:
        check()
    except Refused as exc:
        yield _outputs(result_html.error_html(exc.message), ["" if i == exc.clip else gr.skip() for i in range(plans)])
        raise user_error(exc.message, logged=exc.logged, toast=False) from exc
    yield _outputs(result_html.status_html(ready), [gr.skip()] * plans)


def _outputs(status: str, plans: list[Any]) -> Any:
    # an event with one output takes the value itself: a one-item tuple would reach the HTML box as a list
    return (status, *plans) if plans else status


def score_check(plan: Plan, video: str | None, prompt: str, fps: float) -> Callable[[], None]:
    def check() -> None:
        clip_plan(plan, video, fps, 0)
        prompt_problem(prompt)
    return check


def compare_check(plan: Plan, videos: Sequence[str | None], prompt_a: str, prompt_b: str | None, fps: float
                  ) -> Callable[[], None]:
    def check() -> None:
        if not all(videos):
            raise Refused(TWO_CLIPS)
        for i, video in enumerate(videos):
            clip_plan(plan, video, fps, i)
        prompt_problem(prompt_a, "" if prompt_b is None else "Clip A's prompt: ")
        if prompt_b is not None:
            prompt_problem(prompt_b, "Clip B's prompt: ")
    return check
