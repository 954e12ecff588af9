"""Helpers for the results library and agreement tests: results built without a model, and the databases the
store's tests run against (SQLite always; PostgreSQL at $VS2_TEST_PG_URL, required where $VS2_REQUIRE_PG=1)."""

from __future__ import annotations

import math
import os
import secrets
from collections.abc import Iterator, Sequence

import pytest

from vs2demo.analysis.result import ModelInfo, Result, Timings, build_result
from vs2demo.analysis.stability import samples_dict
from vs2demo.core.dimensions import DIMENSIONS
from vs2demo.core.options import GenerationOptions
from vs2demo.input.framing import VideoInfo, plan_frames
from vs2demo.store.results import Frame, NewResult

INFO = ModelInfo("smoke", "cpu", "float32", smoke=True, load_s=0.0)


def fake_result(video: str = "clip.mp4", prompt: str = "a red ball", scores: Sequence[int] = (4, 3, 2),
                seed: int | None = 1, peak: float = 0.7, seconds: float = 3.0) -> Result:
    """A parsed result with official soft scores: p(score) = ``peak``, the rest spread evenly."""
    labels = [d.label for d in DIMENSIONS]
    raw = "<think>The ball bounces.</think>" + ", ".join(f"{lab}: {s}" for lab, s in zip(labels, scores))

    def logprobs(score: int) -> tuple[float, ...]:
        return tuple(math.log(peak if v == score else (1 - peak) / 4) for v in range(1, 6))

    plan = plan_frames(VideoInfo(f"/uploads/{video}", int(24 * seconds), 24.0, 320, 240, 1000), 2.0)
    return build_result(f"/uploads/{video}", prompt, raw, plan, INFO, GenerationOptions(seed=seed),
                        Timings(0.1, 0.1, 0.2, 1.0, 40), official_logprobs=tuple(logprobs(s) for s in scores))


def single(scores=(4, 3, 2), name="clip.mp4") -> NewResult:
    """A stored single-clip result, one frame."""
    samples = (fake_result(name, "a red ball", scores=scores),)
    return NewResult("single", samples_dict(samples, paths=False), name, "a red ball", "smoke", None, "cmd",
                     {}, (1,), (Frame(0, 0, 0.0, "0.0 s", b"webp"),))


def pair() -> NewResult:
    """A stored comparison: A scores 5 everywhere, B 2."""
    a, b = (fake_result("a.mp4", scores=(5, 5, 5)),), (fake_result("b.mp4", scores=(2, 2, 2)),)
    payload = {"clip_a": samples_dict(a, paths=False), "clip_b": samples_dict(b, paths=False)}
    return NewResult("compare", payload, "a.mp4 vs b.mp4", "a red ball", "smoke", None, "cmd", {}, (1,))


def pg_url() -> str | None:
    url = os.environ.get("VS2_TEST_PG_URL")
    if not url:
        if os.environ.get("VS2_REQUIRE_PG") == "1":
            pytest.fail("VS2_REQUIRE_PG=1 but VS2_TEST_PG_URL is not set (.ci/postgres prints it)")
        pytest.skip("no PostgreSQL: set VS2_TEST_PG_URL (.ci/postgres starts one and prints it)")
    return url


def fresh_target(backend: str, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A database of its own for one test: a SQLite file, or a PostgreSQL schema dropped afterwards."""
    if backend == "sqlite":
        yield str(tmp_path / "library.db")
        return
    from sqlalchemy import create_engine, text

    from vs2demo.store.db import database_url

    url = database_url(pg_url())
    schema = "t_" + secrets.token_hex(6)
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in url else "?"
    try:
        yield f"{url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def serve_library(evaluator, target: str):  # type: ignore[no-untyped-def]
    """The page on ``evaluator`` with a results library at ``target``; returns (demo, client, library)."""
    from gradio_client import Client

    from tests.helpers import free_port
    from vs2demo.serve.library import Library
    from vs2demo.serve.page import build_demo, launch_kwargs

    library = Library(target)
    demo = build_demo(evaluator, library)
    port = free_port()
    demo.launch(server_port=port, prevent_thread_lock=True, quiet=True, **launch_kwargs(demo, evaluator))
    return demo, Client(f"http://127.0.0.1:{port}/", verbose=False), library
