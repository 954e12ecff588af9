"""The library's tables and the migrations that build them, one numbered step at a time.

The database records the version it has reached; opening it applies every later step in one transaction (under
a lock, so replicas starting together migrate once). A step is never edited once released: changes are new steps.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    select,
    text,
)

metadata = MetaData()

schema_version = Table("schema_version", metadata, Column("version", Integer, nullable=False))

results = Table(
    "results", metadata,
    Column("id", String(32), primary_key=True),  # secrets.token_urlsafe(16): the link's unguessable part
    Column("kind", String(16), nullable=False),  # single, samples, compare, rank, explanation
    Column("created_at", Float, nullable=False),  # seconds since the epoch, UTC
    Column("owner", String(80), nullable=False, index=True),  # a hashed browser token, or "session:…" until claimed
    Column("title", Text, nullable=False),
    Column("prompt", Text, nullable=False),
    Column("model", String(300), nullable=False),
    Column("revision", String(80)),  # the checkpoint's commit when known
    Column("command", Text, nullable=False),  # the CLI line that reproduces it
    Column("settings", Text, nullable=False),  # JSON: the generation options
    Column("seeds", Text, nullable=False),  # JSON list
    Column("payload", Text, nullable=False),  # JSON: what the page's download holds
    Column("clip_name", Text),
    Column("clip", LargeBinary),  # only when the visitor asked to keep it
    Column("clip_kept_at", Float),
)

frames = Table(
    "frames", metadata,
    Column("result_id", String(32), ForeignKey("results.id", ondelete="CASCADE"), primary_key=True),
    Column("item", Integer, primary_key=True),  # which clip of the result (compare: 0 = A, 1 = B; rank: input order)
    Column("position", Integer, primary_key=True),
    Column("seconds", Float, nullable=False),
    Column("caption", Text, nullable=False),
    Column("image", LargeBinary, nullable=False),  # WebP
)

feedback = Table(
    "feedback", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("result_id", String(32), ForeignKey("results.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("reviewer", String(80), nullable=False),  # a hashed browser token
    Column("item", Integer, nullable=False),
    Column("dimension", String(40), nullable=False),  # a dimension key, or "overall"
    Column("verdict", String(16)),  # agree / disagree, or A / B / tie / both_bad for a comparison
    Column("score", Integer),  # the score the reviewer would give, 1-5
    Column("comment", Text, nullable=False),
    Column("seconds", Text, nullable=False),  # JSON list of the seconds it concerns
    Column("unsupported", Boolean, nullable=False),  # "the rationale states something that is not in the clip"
    Column("version", Integer, nullable=False),  # +1 per edit: an edit made on an older version is refused
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    UniqueConstraint("result_id", "reviewer", "item", "dimension", name="one_feedback_per_reviewer"),
)

# version 2: every save and delete of feedback, kept (nothing a reviewer wrote is ever lost, even when edited)
feedback_edits = Table(
    "feedback_edits", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("feedback_id", Integer, nullable=False),
    Column("result_id", String(32), nullable=False),
    Column("reviewer", String(80), nullable=False),
    Column("action", String(16), nullable=False),  # save, delete
    Column("at", Float, nullable=False),
    Column("data", Text, nullable=False),  # JSON: the row as written
)


def _v1(conn: Connection) -> None:
    for table in (results, frames, feedback):
        table.create(conn)


def _v2(conn: Connection) -> None:
    feedback_edits.create(conn)
    # plain DDL: an Index object would belong to the table and be created with it by version 1
    conn.execute(text("CREATE INDEX results_created_at ON results (created_at)"))


MIGRATIONS: tuple[tuple[int, Callable[[Connection], None]], ...] = ((1, _v1), (2, _v2))
LATEST = MIGRATIONS[-1][0]


def current_version(conn: Connection) -> int:
    """The version the database has reached (0: empty)."""
    schema_version.create(conn, checkfirst=True)
    return conn.execute(select(schema_version.c.version)).scalar() or 0


def migrate(conn: Connection, upto: int = LATEST) -> tuple[int, int]:
    """Apply every step after the database's version, up to ``upto``, in the caller's transaction; returns the
    versions before and after. On PostgreSQL an advisory lock makes replicas that start together wait for one
    another (SQLite's transactions here are already exclusive: BEGIN IMMEDIATE)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(7230501)"))
    before = current_version(conn)
    for version, step in MIGRATIONS:
        if before < version <= upto:
            step(conn)
    after = max(before, min(upto, LATEST))
    if after != before:
        conn.execute(schema_version.delete())
        conn.execute(schema_version.insert().values(version=after))
    return before, after
