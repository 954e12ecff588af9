"""The immutable result of one evaluation, and how it is assembled from a finished generation (pure)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from vs2demo.analysis.parse import Parsed, ParseMethod, SoftScore, SoftSource, parse_scores, soft_from_logprobs
from vs2demo.core.dimensions import DIMENSIONS
from vs2demo.core.options import OFFICIAL_DTYPE, SMOKE_BANNER, GenerationOptions
from vs2demo.input.framing import FramePlan

LogProbs = tuple[float, ...] | None  # log p("1") … log p("5") at one token, or None
NO_LOGPROBS: tuple[LogProbs, ...] = (None,) * len(DIMENSIONS)


@dataclass(frozen=True)
class DimensionScore:
    key: str
    title: str
    hard: int | None  # the parsed integer 1-5, None when not parsed
    soft: float | None  # official soft score
    expected: float | None  # extra (not official): Σ s·p(s) / Σ p(s)
    confidence: float | None  # extra (not official): max p / Σ p
    probs: tuple[float, ...] | None  # p("1") … p("5") at the score token (not normalised; float64 as official)
    soft_source: SoftSource | None


@dataclass(frozen=True)
class Timings:
    decode_s: float
    preprocess_s: float
    ttft_s: float | None
    generate_s: float
    new_tokens: int
    frames_cached: bool = False

    @property
    def tokens_per_s(self) -> float:
        return self.new_tokens / self.generate_s if self.generate_s > 0 else 0.0


@dataclass(frozen=True)
class ModelInfo:
    model_id: str
    device: str
    dtype: str
    smoke: bool
    load_s: float
    decode_notes: tuple[str, ...] = ()  # how the engine's decoding may differ from the official run's

    @property
    def deviations(self) -> list[str]:
        """How the loaded weights and the engine's decoding differ from the official run's (float32 under
        transformers 4.53.2, a dynamic cache, eager decoding)."""
        weights = [f"{self.dtype} weights (official: {OFFICIAL_DTYPE})"] if self.dtype != OFFICIAL_DTYPE else []
        return weights + list(self.decode_notes)

    @property
    def banner(self) -> str | None:
        return SMOKE_BANNER if self.smoke else None


@dataclass(frozen=True)
class Result:
    video: str
    prompt: str
    raw_output: str
    think: str
    parse_method: ParseMethod
    parse_notes: tuple[str, ...]
    scores: tuple[DimensionScore, ...]
    plan: FramePlan  # the frames the model saw ("frames" in JSON)
    model: ModelInfo
    options: GenerationOptions
    timings: Timings
    stopped: bool = False  # ended early by the caller
    token_ids: tuple[int, ...] = ()  # the generated ids, stop token included: what re-scoring feeds back
    official_settings: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "official_settings", not self.deviations())

    def deviations(self, options: GenerationOptions | None = None) -> list[str]:
        """Every way this run differs from the official script: sampling options (``options``: what was asked
        for, by default this sample's own), the weights, and the reader the frames came through."""
        return (options or self.options).deviations() + self.model.deviations + self.plan.info.deviations

    @property
    def reader(self) -> str:
        """What decoded the frames: "decord" (the official reader) or the fallback (a listed deviation)."""
        return self.plan.info.reader

    def score(self, key: str) -> DimensionScore:
        return next(s for s in self.scores if s.key == key)

    def to_dict(self, paths: bool = True) -> dict[str, Any]:
        """Everything as plain values. ``paths=False`` names the clip by its file name only: what a server shows
        its visitors, who must never see where their upload was stored."""
        d = {k: _plain(v) for k, v in asdict(self).items() if k != "plan"}
        d["frames"] = self.plan.to_dict()
        if not paths:
            d["video"] = d["frames"]["video"] = Path(self.video).name
        d["scores"] = {s.key: {k: _plain(v) for k, v in asdict(s).items() if k != "key"} for s in self.scores}
        d["timings"]["tokens_per_s"] = round(self.timings.tokens_per_s, 3)
        d["model"]["banner"] = self.model.banner
        d["reader"] = self.reader
        d["settings_deviations"] = self.deviations()
        return d

    def to_json(self, paths: bool = True, **kw: Any) -> str:
        return json.dumps(self.to_dict(paths), ensure_ascii=False, **kw)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Result:
        """A result back from ``to_dict`` (a stored or exported result): every field the JSON carries; what it
        derives (deviations, tokens/s, the banner) is derived again. KeyError/TypeError/ValueError on a record
        that is not a result."""
        scores = tuple(DimensionScore(
            key=dim.key, title=s.get("title", dim.title), hard=s.get("hard"), soft=s.get("soft"),
            expected=s.get("expected"), confidence=s.get("confidence"),
            probs=None if s.get("probs") is None else tuple(float(p) for p in s["probs"]),
            soft_source=None if s.get("soft_source") is None else SoftSource(s["soft_source"]))
            for dim in DIMENSIONS for s in [d["scores"].get(dim.key) or {}])
        m, t = d["model"], d["timings"]
        return cls(
            video=d["video"], prompt=d["prompt"], raw_output=d["raw_output"], think=d.get("think", ""),
            parse_method=ParseMethod(d["parse_method"]), parse_notes=tuple(d.get("parse_notes") or ()),
            scores=scores, plan=FramePlan.from_dict(d["frames"]),
            model=ModelInfo(m["model_id"], m["device"], m["dtype"], bool(m["smoke"]), float(m.get("load_s", 0.0)),
                            tuple(m.get("decode_notes") or ())),
            options=GenerationOptions(**d["options"]),
            timings=Timings(t["decode_s"], t["preprocess_s"], t.get("ttft_s"), t["generate_s"], t["new_tokens"],
                            t.get("frames_cached", False)),
            stopped=bool(d.get("stopped", False)), token_ids=tuple(d.get("token_ids") or ()))


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def think_text(raw: str) -> str:
    """The reasoning inside the first <think> block (or everything after <think> if it never closed)."""
    start = raw.find("<think>")
    if start < 0:
        return ""
    start += len("<think>")
    end = raw.find("</think>", start)
    return (raw[start:] if end < 0 else raw[start:end]).strip()


def dimension_scores(
    parsed: Parsed,
    official_logprobs: tuple[LogProbs, ...],
    parsed_logprobs: tuple[LogProbs, ...],
) -> tuple[DimensionScore, ...]:
    """Combine hard scores with soft scores from the digits' log-probabilities. The official soft score uses
    the token the official script would use; when it cannot (no label found), the parsed digit's token is
    used and labelled so."""
    out = []
    # Without the official parse the official script prints no soft score at all: a soft score read at the
    # official step is then still a labelled extra, never "official".
    official_parse = parsed.method == ParseMethod.OFFICIAL
    for d, hard, off, alt in zip(DIMENSIONS, parsed.scores, official_logprobs, parsed_logprobs):
        logprobs = off if off is not None else alt
        source = SoftSource.OFFICIAL if off is not None and official_parse else SoftSource.FALLBACK
        soft: SoftScore | None = soft_from_logprobs(logprobs) if logprobs is not None and hard is not None else None
        out.append(DimensionScore(
            key=d.key, title=d.title, hard=hard,
            soft=soft.soft if soft else None,
            expected=soft.expected if soft else None,
            confidence=soft.confidence if soft else None,
            probs=soft.probs if soft else None,
            soft_source=source if soft else None,
        ))
    return tuple(out)


def build_result(video: str, prompt: str, raw: str, plan: FramePlan, model: ModelInfo, options: GenerationOptions,
                 timings: Timings, stopped: bool = False, official_logprobs: tuple[LogProbs, ...] = NO_LOGPROBS,
                 logprobs_at: Any = None, token_ids: tuple[int, ...] = ()) -> Result:
    """A result from a finished text: the official parse (or the labelled fallback) and the soft scores.

    ``official_logprobs`` are the digits' log-probabilities where the official search finds each score;
    ``logprobs_at(char_pos)`` gives them at any character of ``raw`` (for scores only the fallback found).
    """
    parsed = parse_scores(raw)
    parsed_logprobs = tuple(None if logprobs_at is None or p is None else logprobs_at(p) for p in parsed.digit_pos)
    return Result(video=video, prompt=prompt, raw_output=raw, think=think_text(raw), parse_method=parsed.method,
                  parse_notes=parsed.notes, scores=dimension_scores(parsed, official_logprobs, parsed_logprobs),
                  plan=plan, model=model, options=options, timings=timings, stopped=stopped, token_ids=token_ids)
