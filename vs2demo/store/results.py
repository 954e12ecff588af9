"""Stored results: every finished result with its settings, seeds, model and revision, frame plan (in the payload),
thumbnails and reproducing command; the clip itself only when its visitor asked. Read by an unguessable id;
listed only by their owner (or with the admin token).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, update

from vs2demo.analysis.result import Result
from vs2demo.analysis.stability import samples_from_dict
from vs2demo.core.errors import StoreError
from vs2demo.store.db import Database
from vs2demo.store.schema import feedback, frames, results

KINDS = ("single", "samples", "compare", "rank", "explanation")
ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{22}")  # secrets.token_urlsafe(16)
ANONYMOUS = "anonymous"
DEFAULT_CLIP_CAP_MB = 50.0
DEFAULT_RETENTION_DAYS = 30.0


def reviewer_id(token: str | None) -> str:
    """What the database records for a browser's token: its hash (a leaked database gives no one's token)."""
    if not token:
        return ANONYMOUS
    return "t:" + hashlib.sha256(token.encode("utf-8")).hexdigest()[:40]


def is_admin(token: str | None) -> bool:
    """The admin token from $VS2_ADMIN_TOKEN (none set: nobody is admin)."""
    admin = os.environ.get("VS2_ADMIN_TOKEN", "")
    return bool(admin) and bool(token) and secrets.compare_digest(admin.encode(), str(token).encode())


def clip_cap_bytes() -> int:
    return int(float(os.environ.get("VS2_KEEP_CLIP_MB", DEFAULT_CLIP_CAP_MB)) * 1_000_000)


def retention_days() -> float:
    return float(os.environ.get("VS2_RETENTION_DAYS", DEFAULT_RETENTION_DAYS))


def check_id(result_id: str | None) -> str:
    """The id of a link, or one clear line when it cannot be one."""
    text = (result_id or "").strip()
    if not ID_PATTERN.fullmatch(text):
        raise StoreError("This link is malformed: a result link ends in ?r= and 22 letters, digits, - or _. "
                         "Check that it was copied whole.")
    return text


@dataclass(frozen=True)
class Frame:
    item: int  # which clip of the result
    position: int
    seconds: float
    caption: str
    image: bytes  # WebP


@dataclass(frozen=True)
class NewResult:
    kind: str
    payload: dict[str, Any]  # what the page's JSON download holds
    title: str
    prompt: str
    model: str
    revision: str | None
    command: str
    settings: dict[str, Any]
    seeds: tuple[int | None, ...]
    frames: tuple[Frame, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")


@dataclass(frozen=True)
class StoredResult:
    id: str
    kind: str
    created_at: float
    owner: str
    title: str
    prompt: str
    model: str
    revision: str | None
    command: str
    settings: dict[str, Any]
    seeds: tuple[int | None, ...]
    payload: dict[str, Any]
    frames: tuple[Frame, ...]
    clip_name: str | None
    clip_size: int | None  # bytes, when the clip was kept

    def clips(self) -> list[tuple[str, tuple[Result, ...]]]:
        """Each clip of the result with its samples, in the order feedback and frames number them (item 0, 1, …):
        one clip; A then B for a comparison; a ranking's clips in their input order."""
        p = self.payload
        if self.kind == "compare":
            return [("A", samples_from_dict(p["clip_a"])), ("B", samples_from_dict(p["clip_b"]))]
        if self.kind == "rank":
            return [(name, samples_from_dict(d)) for name, d in p["clips"].items()]
        return [(self.title, samples_from_dict(p))]

    def frames_of(self, item: int) -> tuple[Frame, ...]:
        return tuple(f for f in self.frames if f.item == item)

    @property
    def date(self) -> str:
        return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(self.created_at))


@dataclass(frozen=True)
class Listed:
    """One line of a library listing."""

    id: str
    kind: str
    created_at: float
    title: str
    prompt: str
    feedback: int


class Results:
    def __init__(self, db: Database) -> None:
        self.db = db

    def save(self, new: NewResult, owner: str = ANONYMOUS) -> str:
        result_id = secrets.token_urlsafe(16)
        with self.db.write() as conn:
            conn.execute(results.insert().values(
                id=result_id, kind=new.kind, created_at=time.time(), owner=owner, title=new.title,
                prompt=new.prompt, model=new.model, revision=new.revision, command=new.command,
                settings=json.dumps(new.settings), seeds=json.dumps(list(new.seeds)),
                payload=json.dumps(new.payload, ensure_ascii=False)))
            if new.frames:
                conn.execute(frames.insert(), [{"result_id": result_id, "item": f.item, "position": f.position,
                                                "seconds": f.seconds, "caption": f.caption, "image": f.image}
                                               for f in new.frames])
        return result_id

    def restore(self, stored: StoredResult, clip: bytes | None = None) -> bool:
        """Insert an exported result under its own id and owner (an import); False when that id is already here."""
        with self.db.write() as conn:
            if conn.execute(select(results.c.id).where(results.c.id == check_id(stored.id))).one_or_none():
                return False
            conn.execute(results.insert().values(
                id=stored.id, kind=stored.kind, created_at=stored.created_at, owner=stored.owner, title=stored.title,
                prompt=stored.prompt, model=stored.model, revision=stored.revision, command=stored.command,
                settings=json.dumps(stored.settings), seeds=json.dumps(list(stored.seeds)),
                payload=json.dumps(stored.payload, ensure_ascii=False), clip_name=stored.clip_name, clip=clip,
                clip_kept_at=time.time() if clip is not None else None))
            if stored.frames:
                conn.execute(frames.insert(), [{"result_id": stored.id, "item": f.item, "position": f.position,
                                                "seconds": f.seconds, "caption": f.caption, "image": f.image}
                                               for f in stored.frames])
        return True

    def ids(self) -> list[str]:
        """Every result's id, oldest first (export)."""
        with self.db.read() as conn:
            return list(conn.execute(select(results.c.id).order_by(results.c.created_at, results.c.id)).scalars())

    def get(self, result_id: str | None, with_frames: bool = True) -> StoredResult:
        """A result by its link's id; one clear line when malformed or missing. ``with_frames=False`` leaves the
        thumbnails in the database (agreement and exports read thousands of results and need none)."""
        rid = check_id(result_id)
        with self.db.read() as conn:
            row = conn.execute(select(results.c.id, results.c.kind, results.c.created_at, results.c.owner,
                                      results.c.title, results.c.prompt, results.c.model, results.c.revision,
                                      results.c.command, results.c.settings, results.c.seeds, results.c.payload,
                                      results.c.clip_name, func.length(results.c.clip).label("clip_size"))
                               .where(results.c.id == rid)).one_or_none()
            shots = conn.execute(select(frames).where(frames.c.result_id == rid)
                                 .order_by(frames.c.item, frames.c.position)).all() if with_frames else []
        if row is None:
            raise StoreError("No stored result has this link: it may have been removed, or the link is incomplete.")
        return StoredResult(
            id=row.id, kind=row.kind, created_at=row.created_at, owner=row.owner, title=row.title, prompt=row.prompt,
            model=row.model, revision=row.revision, command=row.command, settings=json.loads(row.settings),
            seeds=tuple(json.loads(row.seeds)), payload=json.loads(row.payload),
            frames=tuple(Frame(s.item, s.position, s.seconds, s.caption, bytes(s.image)) for s in shots),
            clip_name=row.clip_name, clip_size=row.clip_size)

    def clip(self, result_id: str) -> tuple[str, bytes] | None:
        """The kept clip (file name, bytes), or None when it was not kept or has been purged."""
        with self.db.read() as conn:
            row = conn.execute(select(results.c.clip_name, results.c.clip)
                               .where(results.c.id == check_id(result_id))).one_or_none()
        return None if row is None or row.clip is None else (row.clip_name or "clip.mp4", bytes(row.clip))

    def claim(self, result_id: str, session_owner: str, owner: str) -> bool:
        """Give a result stored for a page session to the browser that ran it (its hashed token)."""
        with self.db.write() as conn:
            done = conn.execute(update(results).where(results.c.id == check_id(result_id),
                                                      results.c.owner == session_owner).values(owner=owner))
        return done.rowcount == 1

    def keep_clip(self, result_id: str, owner: str, name: str, data: bytes) -> None:
        """Keep the clip with the link (its owner only, at most $VS2_KEEP_CLIP_MB)."""
        cap = clip_cap_bytes()
        if len(data) > cap:
            raise StoreError(f"The clip is {len(data) / 1e6:.1f} MB; clips over {cap / 1e6:g} MB are not kept with "
                             "links (the result itself is stored).")
        with self.db.write() as conn:
            done = conn.execute(update(results).where(results.c.id == check_id(result_id), results.c.owner == owner)
                                .values(clip_name=name, clip=data, clip_kept_at=time.time()))
        if done.rowcount != 1:
            raise StoreError("Only the visitor who ran a result can keep its clip with the link.")

    def listing(self, owner: str, admin: bool = False, limit: int = 200) -> list[Listed]:
        """The owner's results, newest first (every result for the admin). Nobody lists another's results."""
        count = (select(func.count()).select_from(feedback).where(feedback.c.result_id == results.c.id)
                 .scalar_subquery())
        query = select(results.c.id, results.c.kind, results.c.created_at, results.c.title, results.c.prompt,
                       count.label("feedback")).order_by(results.c.created_at.desc()).limit(limit)
        if not admin:
            if owner == ANONYMOUS:
                return []
            query = query.where(results.c.owner == owner)
        with self.db.read() as conn:
            return [Listed(*row) for row in conn.execute(query).all()]

    def purge(self, days: float | None = None, everything: bool = False) -> tuple[int, int]:
        """Remove kept clips older than ``days`` (default $VS2_RETENTION_DAYS); with ``everything``, whole results
        (their frames and feedback) older than that too. Returns (clips removed, results removed)."""
        cutoff = time.time() - 86400 * (retention_days() if days is None else days)
        with self.db.write() as conn:
            gone = 0
            if everything:
                old = select(results.c.id).where(results.c.created_at < cutoff)
                for table in (feedback, frames):  # not every SQLite connection enforces ON DELETE CASCADE
                    conn.execute(delete(table).where(table.c.result_id.in_(old)))
                gone = conn.execute(delete(results).where(results.c.created_at < cutoff)).rowcount
            clips = conn.execute(update(results).where(results.c.clip.is_not(None), results.c.clip_kept_at < cutoff)
                                 .values(clip=None, clip_kept_at=None)).rowcount
        return clips, gone
