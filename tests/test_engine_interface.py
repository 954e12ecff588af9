"""The evaluator and explain use only the engine's interface: a fake engine (no transformers, no model, no
processor) drives a whole evaluation and an explanation; the real engine satisfies the same protocol."""

from __future__ import annotations

import threading
import time
from collections.abc import Generator, Sequence

import numpy as np
import pytest
import torch

from vs2demo.analysis.parse import soft_from_logprobs
from vs2demo.analysis.result import ModelInfo
from vs2demo.core.options import GenerationOptions
from vs2demo.engine.budget import RequestCost
from vs2demo.engine.digits import DigitRecorder
from vs2demo.engine.evaluator import Evaluator
from vs2demo.engine.events import Finished, Job, Piece, Status
from vs2demo.engine.generation import GenerationSummary, RowDecoder, Sampling
from vs2demo.engine.inputs import PreparedClip
from vs2demo.engine.interface import Engine
from vs2demo.engine.rescore import Rescored, Variant
from vs2demo.evidence.explain import explain
from vs2demo.evidence.record import ProbeKind
from vs2demo.input.video import Frames

OUTPUT = ("<think>Sharp frames. The motion is smooth.</think>visual quality: 4\ntext-to-video alignment: 3\n"
          "physical/common-sense consistency: 5")
VOCAB = sorted(set(OUTPUT) | set("12345"))


class CharTokenizer:
    """One token per character: enough for RowDecoder and the official digit search."""

    def decode(self, ids: Sequence[int], **_: object) -> str:
        return "".join(VOCAB[i] for i in ids)

    def encode(self, text: str) -> list[int]:
        return [VOCAB.index(c) for c in text]


class FakeEngine:
    """Writes OUTPUT for every row; the digits' log-probabilities at step i favour the digit (i mod 5) + 1."""

    def __init__(self) -> None:
        self.info = ModelInfo("fake-engine", "cpu", "float32", True, 0.0)
        self.tokenizer = CharTokenizer()
        self.digit_ids = [VOCAB.index(str(d)) for d in range(1, 6)]
        self.generated = 0

    def video_tensors(self, frames: Frames) -> dict:
        """Four rows per temporal group, each the group's mean colour (0-1): the content reaches the pixels."""
        groups = max(1, len(frames.array) // 2)
        means = torch.from_numpy(frames.array[:groups * 2].reshape(groups, -1, 3).mean(axis=1) / 255).float()
        return {"pixel_values_videos": means.repeat_interleave(4, dim=0),
                "video_grid_thw": torch.tensor([[groups, 2, 2]]), "second_per_grid_ts": torch.tensor([1.0])}

    def fill_colour(self):
        return np.zeros(3, dtype=np.uint8)  # black frames: their rows are zeros

    def encode_video(self, pixels: torch.Tensor, groups: int, height: int, width: int) -> torch.Tensor:
        return pixels.reshape(groups, -1, 3).mean(dim=1)  # one token per group

    def scores(self, step: int, rows: int) -> torch.Tensor:
        logits = torch.zeros(rows, len(VOCAB))
        logits[:, self.digit_ids[step % 5]] = 2.0 + step / 100
        return logits

    def generate(self, clips: Sequence[PreparedClip], prompts: Sequence[str], sampling: Sampling, keys, stop
                 ) -> Generator[Piece, None, GenerationSummary]:
        self.generated += 1
        start = time.perf_counter()
        ids = self.tokenizer.encode(OUTPUT)
        rows = tuple(RowDecoder(self.tokenizer, set()) for _ in keys)
        recorder = DigitRecorder(self.digit_ids)
        for step, token in enumerate(ids):
            recorder(torch.zeros(len(keys), 1, dtype=torch.long), self.scores(step, len(keys)))
            for (index, sample), row in zip(keys, rows):
                piece = row.push(token)
                if piece:
                    yield Piece(index, piece, sample)
        return GenerationSummary(tuple(keys), rows, recorder, time.perf_counter() - start, 0.001, False)

    def rescore(self, clip: PreparedClip, variants: Sequence[Variant], sampling: Sampling) -> list[Rescored]:
        out = []
        for v in variants:
            seen = v.video_features if v.video_features is not None else v.pixel_values_videos
            hidden = seen.abs().sum() == 0  # the whole clip hidden: the fake favours "1"
            digits = tuple(None if s is None else tuple(float(x) + (3.0 if hidden and d == 0 else 0.0) for d, x in
                                                         enumerate(torch.log_softmax(self.scores(s, 1), -1)[0,
                                                                                                      self.digit_ids]))
                           for s in v.digit_steps)
            tokens = tuple(-0.1 for _ in v.gen_ids) if v.want_tokens else ()
            out.append(Rescored(tokens, digits, tokens, digits))  # the fake's raw and processed agree
        return out

    def decode(self, ids: Sequence[int]) -> RowDecoder:
        row = RowDecoder(self.tokenizer, set())
        for token in ids:
            row.push(token)
        return row

    def rows_per_pass(self, rows: int, visual_tokens: int, new_tokens: int, rescoring: bool = False) -> int:
        return rows

    def request_cost(self, plans, rows: int, new_tokens: int) -> RequestCost:
        return RequestCost(0, 0, rows)

    def memory_budget(self) -> int:
        return 1 << 40

    def warm_up(self) -> Generator[Status, None, None]:
        yield Status("warming the fake")

    def wait_idle(self, timeout: float) -> bool:
        return True


def test_a_fake_engine_satisfies_the_interface_and_drives_an_evaluation(clip) -> None:
    fake = FakeEngine()
    assert isinstance(fake, Engine)
    evaluator = Evaluator("fake", engine=fake)
    events = list(evaluator.stream([Job(clip, "a ball")], GenerationOptions(seed=1)))
    assert any(isinstance(e, Status) and e.message == "warming the fake" for e in events)  # warm-up is told
    assert "".join(e.text for e in events if isinstance(e, Piece)) == OUTPUT
    (result,) = events[-1].results
    assert isinstance(events[-1], Finished) and result.raw_output == OUTPUT and fake.generated == 1
    assert [s.hard for s in result.scores] == [4, 3, 5]
    for score in result.scores:  # the official step is the digit's own, its probabilities the fake's there
        pos = OUTPUT.index(str(score.hard), OUTPUT.index(score.title.split()[0].lower()))
        expected = soft_from_logprobs(tuple(torch.log_softmax(fake.scores(pos, 1), -1)[0, fake.digit_ids].tolist()))
        assert score.soft_source == "official" and score.soft == expected.soft
    assert evaluator.model is None and evaluator.processor is None  # nothing transformers-shaped was needed


def test_explain_runs_on_the_fake_engine(clip) -> None:
    evaluator = Evaluator("fake", engine=FakeEngine())
    result = evaluator.score(clip, "a ball", GenerationOptions(seed=1))
    expl = explain(evaluator, result)
    assert expl.consistency_max_diff == pytest.approx(0.0, abs=1e-9)  # the unaltered pass gives back the run's
    hidden = next(p for p in expl.probes if p.key is ProbeKind.CLIP_HIDDEN)
    assert all(s.expected_delta < 0 for s in hidden.shifts)  # the fake's planted effect, found through the seam


def test_the_real_engine_satisfies_the_interface(evaluator) -> None:
    assert isinstance(evaluator.engine, Engine)
    assert evaluator.engine.decode_thread.ident is not None


def test_the_decode_thread_runs_jobs_in_order_and_returns_their_errors() -> None:
    from vs2demo.engine.decode_thread import DecodeThread

    thread = DecodeThread("vs2-test")
    seen: list[int] = []
    futures = [thread.submit(seen.append, i) for i in range(5)]
    boom = thread.submit(lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        boom.result(timeout=5)
    assert [f.result(timeout=5) for f in futures] == [None] * 5 and seen == list(range(5))
    names = thread.submit(lambda: threading.current_thread().name).result(timeout=5)
    assert names == "vs2-test"
    thread.close()
