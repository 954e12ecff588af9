"""Shared fixtures: the smoke model (built once per session, offline), synthetic clips, one evaluator."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing downloads in tests
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


# A test that needs the smoke model (built, loaded, generating) or a launched app is slow on 2 cores by nature:
# mark it so, rather than trusting every author to remember. Other slow tests carry @pytest.mark.slow themselves.
SLOW_FIXTURES = frozenset({"smoke_dir", "evaluator", "smoke_app", "served"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def cache_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = os.environ.get("VS2_TEST_CACHE")  # lets a developer keep the built smoke model between runs
    path = Path(root) if root else tmp_path_factory.mktemp("vs2cache")
    os.environ["VS2_CACHE"] = str(path)  # inherited by CLI subprocesses too
    return path


@pytest.fixture(scope="session")
def smoke_dir(cache_root: Path) -> Path:
    from vs2demo.engine.smoke import ensure_smoke_model

    return ensure_smoke_model()


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("clips")


@pytest.fixture(scope="session")
def make_clip(clip_dir: Path):
    from tests.synth import write_clip

    def make(seconds: float, fps: float = 24.0, size: tuple[int, int] = (320, 240), **kw) -> str:
        name = f"clip_{seconds}s_{fps}fps_{size[0]}x{size[1]}_{abs(hash(tuple(sorted(kw.items())))) % 10**6}.mp4"
        path = clip_dir / name
        if not path.exists():
            write_clip(path, seconds, fps, size, **kw)
        return str(path)

    return make


@pytest.fixture(scope="session")
def clip(make_clip) -> str:
    """A 3 s 320×240 clip at 24 fps: 6 frames for the model."""
    return make_clip(3.0)


@pytest.fixture(scope="session")
def evaluator(smoke_dir: Path):
    from vs2demo.engine.evaluator import Evaluator

    ev = Evaluator("smoke")
    ev.load()
    return ev


@pytest.fixture(scope="module")
def shots() -> Path:
    """Where browser tests save a screenshot of each state they check ($VS2_SCREENSHOTS or a temporary folder)."""
    import tempfile

    folder = Path(os.environ.get("VS2_SCREENSHOTS") or tempfile.mkdtemp(prefix="vs2-screenshots-"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {folder}")
    return folder


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    from tests.helpers import CHROMIUM, FLAGS

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


# ---- launched apps: one fixture per kind of server ---------------------------------------------------------


@pytest.fixture(scope="module")
def smoke_app(evaluator):
    """The page on the smoke model, launched once per test module, as a gradio_client Client."""
    from tests.helpers import launch

    demo, client = launch(evaluator)
    yield client
    demo.close()


@pytest.fixture(scope="module")
def served():
    """The page on a test double (or any evaluator that is not the shared smoke one).

    ``served(text_or_evaluator, delay_s=0.0, **kw)`` launches a fresh app (a str becomes a ScriptedEvaluator
    streaming that text) and returns ``(evaluator, client, api_base)``; each app closes with the module.
    """
    from tests.helpers import ScriptedEvaluator, launch

    demos = []

    def start(text_or_evaluator, delay_s: float = 0.0, **kw):
        evaluator = (ScriptedEvaluator(text_or_evaluator, delay_s=delay_s, **kw)
                     if isinstance(text_or_evaluator, str) else text_or_evaluator)
        demo, client = launch(evaluator)
        demos.append(demo)
        return evaluator, client, client.src.rstrip("/") + "/gradio_api"

    yield start
    for demo in demos:
        demo.close()
