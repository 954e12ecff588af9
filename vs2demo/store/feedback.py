"""Reviewers' feedback per dimension of a stored result: agree or disagree, the score they would give, a comment,
the seconds it concerns and "the rationale states something that is not in the clip"; for a comparison, A / B /
tie / both bad per dimension and overall.

One row per (result, reviewer, clip, dimension). A reviewer edits and deletes only their own rows (their browser's
token) unless they hold the admin token. Every row carries a version: an edit made on an older version than the
stored one is refused (never silently overwritten), and every save and delete is also appended to an edit log.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace

from sqlalchemy import Connection, and_, delete, select, update
from sqlalchemy.exc import IntegrityError

from vs2demo.core.dimensions import JUDGED, SCORE_VALUES
from vs2demo.core.errors import StoreError
from vs2demo.store.db import Database
from vs2demo.store.results import ANONYMOUS, check_id
from vs2demo.store.schema import feedback, feedback_edits, results

AGREE, DISAGREE = "agree", "disagree"
PREFERENCES = ("A", "B", "tie", "both_bad")
VERDICTS = (AGREE, DISAGREE, *PREFERENCES)
MAX_COMMENT = 2000
MAX_SECONDS = 64


@dataclass(frozen=True)
class Entry:
    """What a reviewer says about one dimension (or "overall") of one clip of a stored result."""

    result_id: str
    dimension: str
    item: int = 0  # which clip of the result (compare: the pair, 0)
    verdict: str | None = None
    score: int | None = None
    comment: str = ""
    seconds: tuple[float, ...] = ()
    unsupported: bool = False

    def __post_init__(self) -> None:
        if self.dimension not in JUDGED:
            raise StoreError(f"feedback is per dimension: one of {', '.join(JUDGED)}, "
                             f"not {self.dimension!r}")
        if self.verdict is not None and self.verdict not in VERDICTS:
            raise StoreError(f"the verdict must be one of {', '.join(VERDICTS)}, not {self.verdict!r}")
        if self.score is not None and self.score not in SCORE_VALUES:
            raise StoreError(f"the score you would give must be 1 to 5, not {self.score!r}")
        if len(self.comment) > MAX_COMMENT:
            raise StoreError(f"a comment holds at most {MAX_COMMENT} characters ({len(self.comment)} given)")
        if len(self.seconds) > MAX_SECONDS or any(not math.isfinite(s) or s < 0 for s in self.seconds):
            raise StoreError(f"the seconds must be at most {MAX_SECONDS} times of 0 s or more")
        if self.item < 0:
            raise StoreError("the clip index cannot be negative")
        if self.empty:
            raise StoreError("this feedback says nothing: give a verdict, a score, a comment or a flag")

    @property
    def empty(self) -> bool:
        return self.verdict is None and self.score is None and not self.comment.strip() and not self.unsupported


@dataclass(frozen=True)
class Feedback(Entry):
    id: int = 0
    reviewer: str = ANONYMOUS
    version: int = 1
    created_at: float = 0.0
    updated_at: float = 0.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["seconds"] = list(self.seconds)
        return d

    @classmethod
    def from_row(cls, row) -> Feedback:  # type: ignore[no-untyped-def]
        return cls(result_id=row.result_id, dimension=row.dimension, item=row.item, verdict=row.verdict,
                   score=row.score, comment=row.comment, seconds=tuple(json.loads(row.seconds)),
                   unsupported=bool(row.unsupported), id=row.id, reviewer=row.reviewer, version=row.version,
                   created_at=row.created_at, updated_at=row.updated_at)


class _Raced(Exception):
    """The row changed between reading it and writing it: the transaction is rolled back and redone."""


class FeedbackStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def save(self, entry: Entry, reviewer: str, expected_version: int | None = None) -> Feedback:
        """Write a reviewer's feedback on one dimension: a new row, or their own row edited. With
        ``expected_version`` (the version the reviewer's form showed; 0 = they saw none) an edit made meanwhile
        elsewhere is refused with a message, never overwritten."""
        if reviewer == ANONYMOUS:
            raise StoreError("Feedback needs a reviewer: reload the page (it gives this browser a token).")
        check_id(entry.result_id)
        for _ in range(5):  # a concurrent write of the same row: the loser reads it again (and, with an expected
            try:            # version, is refused by the check there)
                with self.db.write() as conn:
                    return self._save(conn, entry, reviewer, expected_version)
            except (IntegrityError, _Raced):
                continue
        raise StoreError("Your feedback could not be saved: the library was busy. Try again.")

    def _save(self, conn: Connection, entry: Entry, reviewer: str, expected: int | None) -> Feedback:
        if conn.execute(select(results.c.id).where(results.c.id == entry.result_id)).one_or_none() is None:
            raise StoreError("No stored result has this link: feedback needs a stored result.")
        key = and_(feedback.c.result_id == entry.result_id, feedback.c.reviewer == reviewer,
                   feedback.c.item == entry.item, feedback.c.dimension == entry.dimension)
        now = time.time()
        values = {"verdict": entry.verdict, "score": entry.score, "comment": entry.comment,
                  "seconds": json.dumps(list(entry.seconds)), "unsupported": entry.unsupported, "updated_at": now}
        row = conn.execute(select(feedback).where(key)).one_or_none()
        if row is None:
            if expected:
                raise StoreError("Your earlier feedback here was deleted meanwhile (another tab?): it was not "
                                 "overwritten. Check and save again.")
            conn.execute(feedback.insert().values(result_id=entry.result_id, reviewer=reviewer, item=entry.item,
                                                  dimension=entry.dimension, version=1, created_at=now, **values))
        else:
            if expected is not None and expected != row.version:
                raise StoreError(f"This feedback was edited meanwhile (another tab?): version {row.version}, your "
                                 f"form showed {expected or 'none'}. Reload it and save again; nothing was lost.")
            done = conn.execute(update(feedback).where(feedback.c.id == row.id, feedback.c.version == row.version)
                                .values(version=row.version + 1, **values))
            if done.rowcount != 1:  # PostgreSQL: another transaction changed the row after we read it
                raise _Raced
        saved = Feedback.from_row(conn.execute(select(feedback).where(key)).one())
        _log(conn, saved, "save")
        return saved

    def edit(self, feedback_id: int, changes: dict, reviewer: str, admin: bool = False,
             expected_version: int | None = None) -> Feedback:
        """Change a row by its id: the reviewer's own, or anyone's with the admin token."""
        with self.db.write() as conn:
            row = self._owned(conn, feedback_id, reviewer, admin)
            if expected_version is not None and expected_version != row.version:
                raise StoreError(f"This feedback was edited meanwhile (version {row.version}); reload it.")
            current = Feedback.from_row(row)
            allowed = {k: v for k, v in changes.items() if k in ("verdict", "score", "comment", "seconds",
                                                                  "unsupported")}
            new = replace(current, **allowed)  # validates like a new entry
            done = conn.execute(update(feedback).where(feedback.c.id == row.id, feedback.c.version == row.version)
                                .values(verdict=new.verdict, score=new.score, comment=new.comment,
                                        seconds=json.dumps(list(new.seconds)), unsupported=new.unsupported,
                                        version=row.version + 1, updated_at=time.time()))
            if done.rowcount != 1:
                raise StoreError("This feedback was edited meanwhile; reload it and try again.")
            saved = Feedback.from_row(conn.execute(select(feedback).where(feedback.c.id == row.id)).one())
            _log(conn, saved, "save")
            return saved

    def delete(self, feedback_id: int, reviewer: str, admin: bool = False) -> None:
        """Delete a row: the reviewer's own, or anyone's with the admin token (kept in the edit log)."""
        with self.db.write() as conn:
            row = self._owned(conn, feedback_id, reviewer, admin)
            _log(conn, Feedback.from_row(row), "delete")
            conn.execute(delete(feedback).where(feedback.c.id == row.id))

    def _owned(self, conn: Connection, feedback_id: int, reviewer: str, admin: bool):  # type: ignore[no-untyped-def]
        row = conn.execute(select(feedback).where(feedback.c.id == int(feedback_id))).one_or_none()
        if row is None:
            raise StoreError("This feedback no longer exists (deleted meanwhile?).")
        if row.reviewer != reviewer and not admin:
            raise StoreError("This feedback is another reviewer's: only they (or an admin) may change it.")
        return row

    def for_result(self, result_id: str) -> list[Feedback]:
        with self.db.read() as conn:
            rows = conn.execute(select(feedback).where(feedback.c.result_id == check_id(result_id))
                                .order_by(feedback.c.item, feedback.c.dimension, feedback.c.id)).all()
        return [Feedback.from_row(r) for r in rows]

    def every(self) -> Iterator[Feedback]:
        """All feedback (for agreement and export), in a stable order."""
        with self.db.read() as conn:
            rows = conn.execute(select(feedback).order_by(feedback.c.result_id, feedback.c.id)).all()
        return (Feedback.from_row(r) for r in rows)

    def edits(self, result_id: str | None = None) -> list[dict]:
        """The edit log (oldest first): every save and delete, with the row as it was written."""
        query = select(feedback_edits).order_by(feedback_edits.c.id)
        if result_id is not None:
            query = query.where(feedback_edits.c.result_id == result_id)
        with self.db.read() as conn:
            return [{**r._asdict(), "data": json.loads(r.data)} for r in conn.execute(query).all()]


def _log(conn: Connection, row: Feedback, action: str) -> None:
    conn.execute(feedback_edits.insert().values(feedback_id=row.id, result_id=row.result_id, reviewer=row.reviewer,
                                                action=action, at=time.time(), data=json.dumps(row.to_dict())))
