"""The results library against SQLite and PostgreSQL: migrations, stored results and their links, ownership,
feedback with versions, parallel writers, and a killed writer losing nothing it committed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import inspect, select

from tests.reviews import fake_result, fresh_target
from vs2demo.analysis.result import Result
from vs2demo.analysis.stability import samples_dict, samples_from_dict
from vs2demo.core.errors import StoreError
from vs2demo.store.db import Database
from vs2demo.store.feedback import Entry, FeedbackStore
from vs2demo.store.results import Frame, NewResult, Results, is_admin, reviewer_id
from vs2demo.store.schema import LATEST, current_version, migrate, results

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(params=["sqlite", "postgres"])
def target(request, tmp_path):
    yield from fresh_target(request.param, tmp_path)


@pytest.fixture
def db(target):
    database = Database(target).ready()
    yield database
    database.close()


def new_result(kind: str = "single", frames: int = 2) -> NewResult:
    samples = (fake_result(),)
    shots = tuple(Frame(0, i, 0.5 * i, f"{0.5 * i:.1f} s", bytes([i]) * 10) for i in range(frames))
    return NewResult(kind, samples_dict(samples, paths=False), "clip.mp4", "a red ball", "smoke", "abc123",
                     "python -m vs2demo score clip.mp4 --prompt 'a red ball'", {"seed": 1}, (1,), shots)


def test_result_json_round_trip() -> None:
    result = fake_result(scores=(5, 1, 3), seed=7)
    again = Result.from_dict(json.loads(result.to_json()))
    # everything comes back but the file's size, which the JSON does not carry
    assert again == replace(result, plan=replace(result.plan, info=replace(result.plan.info, file_bytes=0)))
    assert again.to_dict() == result.to_dict()
    two = (result, fake_result(scores=(4, 2, 3), seed=8))
    assert [r.to_dict() for r in samples_from_dict(json.loads(json.dumps(samples_dict(two))))] == [
        r.to_dict() for r in two]


@pytest.mark.parametrize("target, says", [("nosuch://x/y", "not a database path or URL"),
                                          ("/nonexistent/folder/lib.db", "folder does not exist")])
def test_a_bad_library_is_one_line(target, says) -> None:
    with pytest.raises(StoreError, match=says):
        Database(target).ready()


def test_created_on_first_use_and_migrated_once(db) -> None:
    assert db.version == LATEST
    tables = set(inspect(db.engine).get_table_names())
    assert {"results", "frames", "feedback", "feedback_edits", "schema_version"} <= tables
    again = Database(db.target).ready()
    with again.engine.begin() as conn:
        assert migrate(conn) == (LATEST, LATEST)  # nothing left to do
    again.close()
    if db.dialect == "sqlite":
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_migration_keeps_data_from_version_1(target) -> None:
    old = Database(target)
    with old.engine.begin() as conn:
        assert migrate(conn, upto=1) == (0, 1)
        assert "feedback_edits" not in inspect(conn).get_table_names()
    old.version = 1
    with old.engine.begin() as conn:  # a version-1 database with a result in it
        conn.execute(results.insert().values(id="A" * 22, kind="single", created_at=1.0, owner="o", title="t",
                                             prompt="p", model="m", command="c", settings="{}", seeds="[]",
                                             payload="{}"))
    old.close()
    db = Database(target).ready()
    assert db.version == LATEST
    with db.engine.begin() as conn:
        assert current_version(conn) == LATEST
        assert "feedback_edits" in inspect(conn).get_table_names()
        assert conn.execute(select(results.c.title)).scalar() == "t"
    db.close()


def test_results_by_unguessable_id(db) -> None:
    store = Results(db)
    ids = {store.save(new_result(), owner="o") for _ in range(5)}
    assert len(ids) == 5 and all(len(i) == 22 for i in ids)
    rid = next(iter(ids))
    got = store.get(rid)
    assert got.kind == "single" and got.model == "smoke" and got.revision == "abc123" and got.seeds == (1,)
    assert [f.image for f in got.frames] == [b"\x00" * 10, b"\x01" * 10] and got.clip_size is None
    assert samples_from_dict(got.payload)[0].scores == fake_result().scores
    with pytest.raises(StoreError, match="malformed"):
        store.get("../../etc/passwd")
    with pytest.raises(StoreError, match="malformed"):
        store.get("")
    with pytest.raises(StoreError, match="No stored result"):
        store.get("B" * 22)


def test_listing_is_per_owner(db, monkeypatch) -> None:
    store = Results(db)
    mine, theirs = reviewer_id("me"), reviewer_id("them")
    a = store.save(new_result(), owner=mine)
    b = store.save(new_result("compare"), owner=theirs)
    assert [x.id for x in store.listing(mine)] == [a]
    assert [x.id for x in store.listing(theirs)] == [b]
    assert store.listing(reviewer_id(None)) == []  # no token: nothing to list
    assert {x.id for x in store.listing(mine, admin=True)} == {a, b}
    monkeypatch.delenv("VS2_ADMIN_TOKEN", raising=False)
    assert not is_admin("anything")
    monkeypatch.setenv("VS2_ADMIN_TOKEN", "s3cret")
    assert is_admin("s3cret") and not is_admin("s3cre") and not is_admin(None)


def test_claim_keep_clip_and_purge(db, monkeypatch) -> None:
    store = Results(db)
    rid = store.save(new_result(), owner="session:abc")
    owner = reviewer_id("browser")
    assert not store.claim(rid, "session:other", owner)  # another session cannot take it
    assert store.claim(rid, "session:abc", owner)
    with pytest.raises(StoreError, match="Only the visitor"):
        store.keep_clip(rid, reviewer_id("someone else"), "clip.mp4", b"video")
    monkeypatch.setenv("VS2_KEEP_CLIP_MB", "0.001")  # 1000 bytes
    with pytest.raises(StoreError, match="not kept"):
        store.keep_clip(rid, owner, "clip.mp4", b"v" * 1001)
    store.keep_clip(rid, owner, "clip.mp4", b"video")
    assert store.clip(rid) == ("clip.mp4", b"video") and store.get(rid).clip_size == 5
    assert store.purge(days=1) == (0, 0)  # not old yet
    assert store.purge(days=-1) == (1, 0)  # every kept clip is past a negative retention
    assert store.clip(rid) is None and store.get(rid).title == "clip.mp4"
    FeedbackStore(db).save(Entry(rid, "visual_quality", verdict="agree"), owner)
    assert store.purge(days=-1, everything=True) == (0, 1)
    with pytest.raises(StoreError, match="No stored result"):
        store.get(rid)


def test_feedback_edit_delete_and_ownership(db) -> None:
    rid = Results(db).save(new_result())
    fb = FeedbackStore(db)
    me, other = reviewer_id("me"), reviewer_id("other")
    first = fb.save(Entry(rid, "visual_quality", verdict="disagree", score=2, comment="<script>x</script>",
                          seconds=(1.5,), unsupported=True), me, expected_version=0)
    assert (first.version, first.score, first.seconds, first.unsupported) == (1, 2, (1.5,), True)
    edited = fb.save(Entry(rid, "visual_quality", verdict="agree"), me, expected_version=1)
    assert edited.version == 2 and edited.id == first.id
    with pytest.raises(StoreError, match="edited meanwhile"):  # a stale form never overwrites
        fb.save(Entry(rid, "visual_quality", verdict="disagree", score=1), me, expected_version=1)
    fb.save(Entry(rid, "visual_quality", score=5), other)  # another reviewer has a row of their own
    assert len(fb.for_result(rid)) == 2
    with pytest.raises(StoreError, match="another reviewer"):
        fb.edit(first.id, {"score": 1}, other)
    with pytest.raises(StoreError, match="another reviewer"):
        fb.delete(first.id, other)
    assert fb.edit(first.id, {"comment": "fixed by admin"}, other, admin=True).comment == "fixed by admin"
    fb.delete(first.id, me)
    assert [f.reviewer for f in fb.for_result(rid)] == [other]
    actions = [(e["action"], e["reviewer"]) for e in fb.edits(rid)]
    assert actions == [("save", me), ("save", me), ("save", other), ("save", me), ("delete", me)]
    assert fb.edits(rid)[0]["data"]["comment"] == "<script>x</script>"  # stored as written, escaped when shown


@pytest.mark.parametrize("bad, message", [
    ({"dimension": "beauty"}, "per dimension"), ({"score": 6}, "1 to 5"), ({"score": 0}, "1 to 5"),
    ({"verdict": "maybe"}, "verdict"), ({"comment": "x" * 2001}, "at most"), ({"seconds": (-1.0,)}, "seconds"),
    ({"verdict": None}, "says nothing")])
def test_feedback_refuses_bad_entries(bad, message) -> None:
    fields = {"result_id": "A" * 22, "dimension": "visual_quality", "verdict": "agree", **bad}
    with pytest.raises(StoreError, match=message):
        Entry(**fields)


def test_feedback_needs_a_reviewer_and_a_result(db) -> None:
    fb = FeedbackStore(db)
    with pytest.raises(StoreError, match="reviewer"):
        fb.save(Entry("A" * 22, "visual_quality", verdict="agree"), reviewer_id(None))
    with pytest.raises(StoreError, match="No stored result"):
        fb.save(Entry("A" * 22, "visual_quality", verdict="agree"), reviewer_id("me"))


def test_parallel_reviewers_lose_no_edit(db) -> None:
    rid = Results(db).save(new_result("compare"))
    fb = FeedbackStore(db)
    errors: list[BaseException] = []
    rounds, reviewers = 6, 6

    def review(n: int) -> None:  # each reviewer edits their three dimensions, round after round
        try:
            for r in range(rounds):
                for d in ("visual_quality", "text_to_video_alignment", "overall"):
                    fb.save(Entry(rid, d, verdict="A" if r % 2 else "B", comment=f"reviewer {n} round {r}"),
                            reviewer_id(f"r{n}"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=review, args=(n,)) for n in range(reviewers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    rows = fb.for_result(rid)
    assert len(rows) == reviewers * 3
    assert all(r.version == rounds and r.comment.endswith(f"round {rounds - 1}") for r in rows)
    assert len(fb.edits(rid)) == reviewers * 3 * rounds


def test_one_row_edited_from_many_tabs_never_overwrites(db) -> None:
    """Several writers edit the same row, each from the version it read: a stale write is refused, the writer
    re-reads and tries again, and every edit ends up applied in turn."""
    rid = Results(db).save(new_result())
    fb = FeedbackStore(db)
    me = reviewer_id("me")
    errors: list[BaseException] = []

    def edit(n: int) -> None:
        for _ in range(50):
            rows = [r for r in fb.for_result(rid) if r.reviewer == me]
            version = rows[0].version if rows else 0
            comment = (rows[0].comment if rows else "") + f"[{n}]"
            try:
                fb.save(Entry(rid, "visual_quality", comment=comment), me, expected_version=version)
                return
            except StoreError as exc:
                if "meanwhile" not in str(exc):
                    errors.append(exc)
                    return
        errors.append(RuntimeError(f"writer {n} never got through"))

    threads = [threading.Thread(target=edit, args=(n,)) for n in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    (row,) = fb.for_result(rid)
    assert row.version == 5 and sorted(row.comment.strip("[]").split("][")) == ["0", "1", "2", "3", "4"]


KILLED_WRITER = """
import os, signal, sys
from vs2demo.store.db import Database
from vs2demo.store.feedback import Entry, FeedbackStore
from vs2demo.store.results import reviewer_id
fb = FeedbackStore(Database(sys.argv[1]).ready())
for i in range(20):
    fb.save(Entry(sys.argv[2], "physical_consistency", score=1 + i % 5, comment=f"edit {i}"), reviewer_id("me"))
print("committed", flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_killed_writer_loses_no_committed_feedback(db) -> None:
    rid = Results(db).save(new_result())
    done = subprocess.run([sys.executable, "-c", KILLED_WRITER, db.target, rid], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == -signal.SIGKILL and "committed" in done.stdout, done.stderr
    (row,) = FeedbackStore(Database(db.target).ready()).for_result(rid)
    assert (row.version, row.comment, row.score) == (20, "edit 19", 5)


def test_a_read_never_waits_for_a_writer_on_sqlite(tmp_path) -> None:
    """A writer mid-transaction (another process, say) holds SQLite's write lock: a read still answers from its
    snapshot at once, while another write waits for the lock as before."""
    import sqlite3

    path = tmp_path / "lib.db"
    db = Database(str(path)).ready()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    read, wrote = threading.Event(), threading.Event()

    def reading() -> None:
        with db.read() as conn:
            conn.execute(select(results.c.id)).all()
        read.set()

    def writing() -> None:
        with db.write() as conn:
            conn.execute(results.delete())
        wrote.set()

    try:
        threading.Thread(target=reading, daemon=True).start()
        threading.Thread(target=writing, daemon=True).start()
        assert read.wait(10)  # before: reads took the write lock too and waited up to 30 s
        assert not wrote.wait(1)  # the writer still waits its turn
    finally:
        holder.rollback()
        holder.close()
    assert wrote.wait(30)
