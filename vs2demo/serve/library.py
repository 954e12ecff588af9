"""The page's side of the results library: storing each finished result (one call from the run driver), the link
that reopens it (``?r=ID``), a browser's own list, feedback per dimension with the browser's token, and the
Reviews tab's agreement. Database work lives in vs2demo.store; this adapts it to Gradio.

A browser gets a random token on its first visit (kept in its localStorage); the database records only its hash.
Results are stored for the page session that ran them and handed to that browser's token right after the run.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import shlex
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
from sqlalchemy.exc import SQLAlchemyError

from vs2demo.analysis.agreement import agreement
from vs2demo.analysis.rank import rank as rank_clips
from vs2demo.analysis.result import Result
from vs2demo.analysis.verdict import compare as compare_results
from vs2demo.analysis.verdict import compare_samples
from vs2demo.core.dimensions import JUDGED, OVERALL
from vs2demo.core.errors import InputError, StoreError
from vs2demo.evidence.record import Explanation
from vs2demo.present import figures, library_html, panels_html
from vs2demo.present.evidence_html import evidence_html
from vs2demo.serve.requests import parse_seconds
from vs2demo.store.db import Database
from vs2demo.store.feedback import Entry, FeedbackStore
from vs2demo.store.results import Frame, NewResult, Results, StoredResult, is_admin, reviewer_id
from vs2demo.store.reviews import from_store

log = logging.getLogger(__name__)
PENDING_CLIPS = 256  # uploads remembered for "keep the clip with the link", newest runs only
ON_SPACE = bool(os.environ.get("SPACE_ID"))
KEEP_CLIP_DEFAULT = not ON_SPACE  # a public Space keeps no visitor's clip unless they ask


def token_secret() -> str:
    """The key the browser token is kept under in localStorage: $VS2_TOKEN_SECRET, else one fixed per library, so
    a restarted server still reads its visitors' tokens (the token itself is random; this only wraps it)."""
    return os.environ.get("VS2_TOKEN_SECRET") or hashlib.sha256(b"vs2demo browser token").hexdigest()[:32]


def session_owner(request: gr.Request | None) -> str:
    session = getattr(request, "session_hash", None) if request is not None else None
    return f"session:{session}" if session else "anonymous"


def page_url(request: gr.Request | None) -> str:
    """The page's own address (for links in downloaded reports), or "" when the request does not say."""
    headers = getattr(request, "headers", None) or {}
    referer = headers.get("referer") or ""
    if referer.startswith(("http://", "https://")):
        return referer.split("#")[0].split("?")[0]
    host = headers.get("x-forwarded-host") or headers.get("host")
    return f"{headers.get('x-forwarded-proto', 'http')}://{host}/" if host else ""


@dataclass(frozen=True)
class RunRecord:
    """What the run driver hands over at the end of a run, for storing."""

    kind: str  # single, samples, compare, rank, explanation
    samples: tuple[tuple[Result, ...], ...]  # per clip
    payload: dict
    shots: dict[int, tuple[list[tuple[str, str]], tuple[float, ...]]]  # per clip: (file, caption) and seconds
    videos: tuple[str, ...]  # the uploads' server paths (kept only on request)
    by: str | None = None  # rank: what it ranked by
    revision: str | None = None  # the checkpoint's commit, when known
    frames: tuple[Frame, ...] = ()  # frames already stored (an explanation reuses its result's)


class Library:
    def __init__(self, target: str) -> None:
        self.db = Database(target)
        self.results = Results(self.db)
        self.feedback = FeedbackStore(self.db)
        self._pending: OrderedDict[str, tuple[str, ...]] = OrderedDict()
        self._lock = threading.Lock()

    # -- storing --------------------------------------------------------------------------------

    def store(self, done: RunRecord, request: gr.Request | None) -> str | None:
        """Store a finished result for the session that ran it; None (logged) if the library failed: a run's
        result is never lost for a database problem."""
        try:
            first = done.samples[0]
            new = NewResult(kind=done.kind, payload=done.payload, title=_title(done), prompt=first[0].prompt,
                            model=first[0].model.model_id, revision=done.revision, command=_command(done),
                            settings={**first[0].options.to_dict(), "samples": len(first)},
                            seeds=tuple(r.options.seed for r in first),
                            frames=done.frames or _frames(done.shots))
            rid = self.results.save(new, owner=session_owner(request))
        except (StoreError, SQLAlchemyError, OSError, ValueError) as exc:
            log.warning("a result could not be stored: %s", exc, exc_info=True)
            return None
        with self._lock:
            self._pending[rid] = done.videos
            while len(self._pending) > PENDING_CLIPS:
                self._pending.popitem(last=False)
        return rid

    def frames_of(self, stored: str | None) -> tuple[Frame, ...]:
        """A stored result's frames (for its explanation), or none."""
        try:
            return self.results.get(stored).frames if stored else ()
        except StoreError:
            return ()

    def after_run(self, stored: str | None, token: str | None, keep: bool, request: gr.Request = None) -> str:
        """Right after a run: the result goes to this browser, its clip is kept when asked, and the link shows."""
        if not stored:
            return ""
        owner = reviewer_id(token)
        note = "Anyone with the link can open it."
        try:
            self.results.claim(stored, session_owner(request), owner)
            if keep:
                with self._lock:
                    videos = self._pending.pop(stored, ())
                if len(videos) == 1 and Path(videos[0]).is_file():
                    self.results.keep_clip(stored, owner, Path(videos[0]).name, Path(videos[0]).read_bytes())
                    note += " The clip is kept with it."
                else:
                    note += " (Clips are kept for single-clip results only.)"
        except StoreError as exc:
            note += f" {exc}"
        return library_html.link_html(stored, note)

    # -- opening a link -------------------------------------------------------------------------

    def open(self, query: str | None, token: str | None) -> tuple[StoredResult, dict[str, Any]]:
        """A stored result and the values its view shows (clip 0); StoreError with one line if it cannot open."""
        stored = self.results.get(query)
        return stored, self.view(stored, 0, token)

    def view(self, stored: StoredResult, item: int, token: str | None) -> dict[str, Any]:
        clips = stored.clips()
        item = min(max(int(item or 0), 0), len(clips) - 1)
        name, samples = clips[item]
        first = samples[0]
        # a comparison's radar overlays both clips whichever is shown; its feedback is on the pair (item 0)
        shown = [(n, s[0]) for n, s in clips] if stored.kind == "compare" else [(name, first)]
        shots = stored.frames_of(item)
        gallery = [(_frame_file(f), f.caption) for f in shots]
        cards = panels_html.result_panels_html(samples)
        evidence = ""
        if stored.kind == "explanation" and "explanation" in stored.payload:
            evidence = evidence_html(first, Explanation.from_dict(stored.payload["explanation"]))
        kept = "The clip was kept: the player seeks with the frames." if stored.clip_size else (
            "The clip itself was not kept (frames only).")
        return {"header": library_html.stored_header_html(stored.id, stored.kind, stored.date, stored.model,
                                                          stored.revision, stored.command, stored.title, kept),
                "summary": _summary(stored, clips), "clips": [(n, i) for i, (n, _) in enumerate(clips)],
                "item": item, "kind": stored.kind, "text": first.raw_output, "radar": figures.radar(shown),
                "cards": cards,
                "gallery": gallery, "times": [f.seconds for f in shots], "evidence": evidence,
                "video": self._clip_file(stored) if stored.clip_size else None,
                "feedback": self.feedback_html(stored, token)}

    def _clip_file(self, stored: StoredResult) -> str | None:
        from vs2demo.serve import files

        clip = self.results.clip(stored.id)
        if clip is None:
            return None
        name, data = clip
        suffix = Path(name).suffix or ".mp4"
        return files.write_file(f"kept_{hashlib.sha256(data).hexdigest()[:20]}{suffix}", data)

    def feedback_html(self, stored: StoredResult, token: str | None) -> str:
        names = ["A vs B"] if stored.kind == "compare" else [n for n, _ in stored.clips()]
        return library_html.feedback_list_html(self.feedback.for_result(stored.id), reviewer_id(token), names)

    def _item(self, stored_id: str, item: int | None, kind: str | None = None) -> int:
        """Which clip feedback is about: the one shown, except in a comparison, where it is about the pair (0).
        ``kind``: the result's kind when the caller has it (else it is read)."""
        kind = kind or self.results.get(stored_id, with_frames=False).kind
        return 0 if kind == "compare" else int(item or 0)

    def listing(self, token: str | None, admin_token: str | None = None) -> str:
        admin = is_admin(admin_token)
        return library_html.listing_html(self.results.listing(reviewer_id(token), admin=admin), admin)

    # -- feedback -------------------------------------------------------------------------------

    def form(self, stored_id: str, item: int, token: str | None, kind: str | None = None
             ) -> tuple[list[Row], dict[str, int]]:
        """This browser's feedback on one clip of a result, per dimension then overall, and the versions it read
        (an edit saved meanwhile elsewhere is then refused, not overwritten)."""
        me = reviewer_id(token)
        item = self._item(stored_id, item, kind)
        mine = {f.dimension: f for f in self.feedback.for_result(stored_id) if f.reviewer == me and f.item == item}
        rows = [Row(f.verdict, f.score, f.comment, ", ".join(f"{x:g}" for x in f.seconds), f.unsupported)
                if (f := mine.get(key)) else Row() for key in JUDGED]
        return rows, {key: f.version for key, f in mine.items()}

    def save(self, stored_id: str, item: int, token: str | None, versions: dict[str, int] | None,
             rows: Sequence[Row]) -> tuple[str, dict[str, int]]:
        """Save every filled row of the form; one line per refusal. Returns the message and the new versions."""
        me = reviewer_id(token)
        item = self._item(stored_id, item)
        versions = dict(versions or {})
        saved, problems = [], []
        for key, row in zip(JUDGED, rows):
            if row.empty:
                continue
            try:
                entry = Entry(stored_id, key, item=int(item), verdict=row.verdict or None, score=row.score,
                              comment=(row.comment or "").strip(), seconds=parse_seconds(row.seconds),
                              unsupported=bool(row.unsupported))
                versions[key] = self.feedback.save(entry, me, expected_version=versions.get(key, 0)).version
                saved.append(key)
            except (StoreError, InputError) as exc:
                problems.append(f"{key}: {exc}")
        if not saved and not problems:
            return "Nothing to save: pick agree or disagree, a score, a comment or the flag first.", versions
        message = f"Saved your feedback on {len(saved)} dimension(s)." if saved else ""
        return " ".join([message, *problems]).strip(), versions

    def delete_mine(self, stored_id: str, item: int, token: str | None) -> int:
        me = reviewer_id(token)
        item = self._item(stored_id, item)
        mine = [f for f in self.feedback.for_result(stored_id) if f.reviewer == me and f.item == item]
        for f in mine:
            self.feedback.delete(f.id, me)
        return len(mine)

    def delete_any(self, stored_id: str | None, feedback_id: float | None, token: str | None,
                   admin_token: str | None) -> str:
        """Delete one feedback row by its number: the browser's own, or anyone's with the admin token."""
        if not stored_id or feedback_id is None:
            return "Open a stored result and give the feedback's number (#) first."
        rows = {f.id: f for f in self.feedback.for_result(stored_id)}
        if int(feedback_id) not in rows:  # only this result's feedback, whatever number is typed
            return f"This result has no feedback #{int(feedback_id)}."
        self.feedback.delete(int(feedback_id), reviewer_id(token), admin=is_admin(admin_token))
        return f"Deleted feedback #{int(feedback_id)}."

    # -- reviews --------------------------------------------------------------------------------

    def reviews(self, token: str | None, admin_token: str | None = None) -> tuple[str, Any, str]:
        """Agreement over every stored review; the disagreements this browser may open (its own results and those
        it reviewed; every one for the admin)."""
        items, pairs, disagreements = from_store(self.results, self.feedback)
        report = agreement(items, pairs or None)
        if not is_admin(admin_token):
            me = reviewer_id(token)
            mine = {x.id for x in self.results.listing(me)} | {
                f.result_id for f in self.feedback.every() if f.reviewer == me}
            disagreements = [d for d in disagreements if d.result_id in mine]
        matrices = [(d.title, d.confusion) for d in report.dimensions]
        return (library_html.agreement_html(report), figures.confusion(matrices),
                library_html.disagreements_html(disagreements))


@dataclass(frozen=True)
class Row:
    """One line of the feedback form, as the page holds it."""

    verdict: str | None = None
    score: int | None = None
    comment: str = ""
    seconds: str = ""
    unsupported: bool = False

    @property
    def empty(self) -> bool:
        return not self.verdict and self.score is None and not (self.comment or "").strip() and not self.unsupported


def new_token(token: str | None) -> str:
    """This browser's token: the one it has, or a new random one."""
    return token if isinstance(token, str) and len(token) >= 20 else secrets.token_urlsafe(24)


def _title(done: RunRecord) -> str:
    names = [Path(s[0].video).name for s in done.samples]
    if done.kind == "compare":
        return f"{names[0]} vs {names[1]}"
    if done.kind == "rank":
        return f"best of {len(names)}: {', '.join(names[:3])}{'…' if len(names) > 3 else ''}"
    return names[0]


def _command(done: RunRecord) -> str:
    """The CLI line(s) that reproduce the run."""
    lines = [panels_html.reproduce_command(s[0], len(s)) for s in done.samples]
    if done.kind == "rank":
        parts = shlex.split(lines[0])
        flags = parts[parts.index("--prompt") + 2:]
        names = [Path(s[0].video).name for s in done.samples]
        return shlex.join(["python", "-m", "vs2demo", "rank", *names, "--prompt", done.samples[0][0].prompt,
                           "--by", done.by or OVERALL, *flags])
    if done.kind == "explanation":
        return lines[0].replace(" score ", " explain ", 1)
    return "\n".join(lines)


def _frames(shots: dict[int, tuple[list[tuple[str, str]], tuple[float, ...]]]) -> tuple[Frame, ...]:
    out = []
    for item, (gallery, times) in sorted(shots.items()):
        for position, ((path, caption), seconds) in enumerate(zip(gallery, times)):
            out.append(Frame(item, position, float(seconds), caption, Path(path).read_bytes()))
    return tuple(out)


def _frame_file(frame: Frame) -> str:
    from vs2demo.serve import files

    return files.write_file(f"frame_{hashlib.sha256(frame.image).hexdigest()[:20]}.webp", frame.image)


def _summary(stored: StoredResult, clips: Sequence[tuple[str, tuple[Result, ...]]]) -> str:
    """A comparison's verdict or a ranking's leaderboard, computed again from the stored results."""
    if stored.kind == "compare":
        (_, a), (_, b) = clips
        rows = compare_samples(a, b)
        return panels_html.verdict_banner_html(compare_results(a[0], b[0])[-1], rows[-1]) + (
            panels_html.sampled_verdict_html(rows))
    if stored.kind == "rank":
        by = stored.payload.get("leaderboard", {}).get("by", OVERALL)
        board = rank_clips([n for n, _ in clips], [s for _, s in clips], by)
        return panels_html.leaderboard_html(board, stored.prompt)
    return ""

