"""A page run's inputs checked before it starts (pure, with a stand-in for the evaluator's plan): each problem told
once in the status, the plan of the clip at fault cleared, the chain ended without a toast; nothing refused when
the inputs are good."""

from __future__ import annotations

from html import escape

import gradio as gr
import pytest

from tests.helpers import ASSETS
from vs2demo.core.errors import InputError
from vs2demo.serve import checks

GOOD, BAD = str(ASSETS / "ball_bounces.mp4"), str(ASSETS / "ball_sinks.mp4")


def plan(path: str, fps: float) -> str:
    if path.endswith("ball_sinks.mp4"):
        raise InputError(f"{path} cannot be read as a video: it is cut short.")
    return "a plan"


def run(check, plans: int) -> tuple[list[tuple], gr.Error | None]:
    updates, error = [], None
    try:
        for update in checks.told(check, plans, "Checking…"):
            updates.append(update)
    except gr.Error as exc:
        error = exc
    return updates, error


SKIP = gr.skip()  # a dict, as every update is: compared by value, not type


@pytest.mark.parametrize("videos,prompt_a,prompt_b,says,cleared", [
    ((GOOD, BAD), "a ball", None, "ball_sinks.mp4 cannot be read", 1),
    ((BAD, GOOD), "a ball", None, "ball_sinks.mp4 cannot be read", 0),
    ((GOOD, None), "a ball", None, "Upload two clips to compare.", None),
    ((GOOD, GOOD), "", None, "The text-to-video prompt is empty", None),
    ((GOOD, GOOD), "a ball", "  ", "Clip B's prompt: ", None),
])
def test_a_comparison_problem_is_told_once_in_the_status(videos, prompt_a, prompt_b, says, cleared) -> None:
    (update,), error = run(checks.compare_check(plan, videos, prompt_a, prompt_b, 2.0), 2)
    status, *plans = update
    assert error is not None and error.visible is False and says in error.message  # no toast: the status tells it
    assert error.message.startswith(says)  # no clip label where none belongs, and the right one where it does
    assert "vs2-error" in status and escape(says) in status and str(ASSETS) not in status  # a name, not a path
    assert [p == "" for p in plans] == [i == cleared for i in range(2)]  # only the plan at fault is cleared
    assert all(p == SKIP for i, p in enumerate(plans) if i != cleared)


def test_good_inputs_pass_with_the_status_saying_so() -> None:
    (update,), error = run(checks.compare_check(plan, (GOOD, GOOD), "a ball", "another ball", 2.0), 2)
    assert error is None and "Checking…" in update[0] and all(p == SKIP for p in update[1:])
    (update,), error = run(checks.score_check(plan, GOOD, "a ball", 2.0), 1)
    assert error is None and "Checking…" in update[0]


def test_a_path_outside_the_uploads_is_refused_as_the_clip_at_fault() -> None:
    (update,), error = run(checks.score_check(plan, "/etc/passwd", "a ball", 2.0), 1)
    assert error is not None and "Only uploaded videos" in error.message and update[1] == ""


def test_a_check_with_no_plan_yields_the_status_itself() -> None:
    """The rank tab's check has one output, the status: Gradio hands a one-output event's value over as it is, so a
    one-item tuple would reach the HTML box as a list."""
    (ready,), error = run(lambda: None, 0)
    assert error is None and isinstance(ready, str) and "Checking…" in ready

    def refuse() -> None:
        raise checks.Refused("Ranking needs at least 2 readable clips.")

    (told,), error = run(refuse, 0)
    assert error is not None and isinstance(told, str) and "vs2-error" in told
