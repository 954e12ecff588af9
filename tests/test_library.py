"""The library's reviews as agreement input, and export/import (JSONL, CSV, datasets folder) and back, from the
shell too."""

from __future__ import annotations

import json

import pytest

from tests.helpers import cli
from tests.reviews import pair, single
from vs2demo.store import exchange
from vs2demo.store.db import Database
from vs2demo.store.feedback import Entry, FeedbackStore
from vs2demo.store.results import Results, reviewer_id
from vs2demo.store.reviews import from_store


@pytest.fixture
def library(tmp_path):
    db = Database(str(tmp_path / "lib.db")).ready()
    results, feedback = Results(db), FeedbackStore(db)
    one = results.save(single(), owner=reviewer_id("me"))
    two = results.save(pair(), owner=reviewer_id("me"))
    me, you = reviewer_id("me"), reviewer_id("you")
    feedback.save(Entry(one, "visual_quality", verdict="agree"), me)  # human 4 = model 4
    feedback.save(Entry(one, "text_to_video_alignment", verdict="disagree", score=1, comment="no <ball>",
                        seconds=(0.5, 1.0), unsupported=True), me)
    feedback.save(Entry(one, "physical_consistency", verdict="disagree"), you)  # no score: a disagreement only
    feedback.save(Entry(two, "overall", verdict="B"), me)  # the model prefers A
    feedback.save(Entry(two, "visual_quality", verdict="A"), me)
    feedback.save(Entry(two, "physical_consistency", verdict="both_bad"), me)
    yield db, results, feedback, one, two
    db.close()


def test_stored_reviews_as_agreement_input(library) -> None:
    _, results, feedback, one, two = library
    items, pairs, disagreements = from_store(results, feedback)
    (item,) = items  # "you" said only "disagree", with no score: no human score, so not an item
    assert item.human == (4, 1, None) and item.hard == (4, 3, 2)
    assert {(p.dimension, p.human) for p in pairs} == {("overall", "B"), ("visual_quality", "A")}  # both bad: none
    said = {(d.result_id, d.dimension, d.model, d.human) for d in disagreements}
    assert (one, "text_to_video_alignment", "3", "disagree · would give 1") in said
    assert (one, "physical_consistency", "2", "disagree") in said
    assert (two, "overall", "A", "B") in said and (two, "physical_consistency", "A", "both_bad") in said
    assert not any(d.dimension == "visual_quality" for d in disagreements)


def test_jsonl_round_trip(tmp_path, library) -> None:
    _, results, feedback, one, _ = library
    path = tmp_path / "backup.jsonl"
    assert exchange.export_jsonl(results, feedback, path) == (2, 6)
    other = Database(str(tmp_path / "copy.db")).ready()
    done = exchange.import_jsonl(Results(other), FeedbackStore(other), path)
    assert (done.results, done.skipped_results, done.feedback, done.problems) == (2, 0, 6, ())
    copy = Results(other).get(one)
    assert copy.payload == results.get(one).payload and copy.frames == results.get(one).frames
    assert {(f.reviewer, f.dimension, f.comment) for f in FeedbackStore(other).for_result(one)} == {
        (f.reviewer, f.dimension, f.comment) for f in feedback.for_result(one)}
    again = exchange.import_jsonl(Results(other), FeedbackStore(other), path)
    assert again.skipped_results == 2  # the same ids are not duplicated
    other.close()


def test_csv_round_trip(tmp_path, library) -> None:
    _, results, feedback, one, _ = library
    path = tmp_path / "feedback.csv"
    assert exchange.export_csv(results, feedback, path) == 6
    text = path.read_text()
    assert "no <ball>" in text and "model_score" in text.splitlines()[0]
    for row in feedback.for_result(one):
        feedback.delete(row.id, row.reviewer)
    done = exchange.import_csv(feedback, path)
    assert done.feedback == 6 and done.problems == ()
    back = {f.dimension: f for f in feedback.for_result(one)}
    assert back["text_to_video_alignment"].seconds == (0.5, 1.0) and back["text_to_video_alignment"].unsupported


def test_datasets_layout_round_trip(tmp_path, library) -> None:
    from datasets import load_dataset

    _, results, feedback, one, _ = library
    folder = tmp_path / "reviews"
    assert exchange.export_datasets(results, feedback, folder) == 2
    # the folder loads as a dataset by itself (a fresh cache: pytest reuses folder names across runs)
    rows = load_dataset(str(folder), split="train", cache_dir=str(tmp_path / "hf-cache"))
    row = next(r for r in rows if r["result_id"] == one)
    assert row["text_to_video_alignment.suggestion"] == 3 and row["text_to_video_alignment.responses"] == [1]
    assert row["visual_quality.suggestion.score"] == pytest.approx(0.7 * 4, abs=0.01)
    assert row["physical_consistency.responses.users"] == [reviewer_id("you")] and "reasoning" in row
    for row in feedback.for_result(one):
        feedback.delete(row.id, row.reviewer)
    done = exchange.import_datasets(feedback, folder)
    assert done.problems == () and len(feedback.for_result(one)) == 3


def test_library_and_agreement_from_the_shell(tmp_path, library) -> None:
    db, *_ = library
    target = db.target
    listed = cli("library", "list", "--db", target)
    assert listed.returncode == 0 and listed.stdout.count("?r=") == 2
    out = tmp_path / "x.jsonl"
    assert cli("library", "export", str(out), "--db", target).returncode == 0
    assert len(out.read_text().splitlines()) == 8
    done = cli("agreement", "--db", target, "--json", "--resamples", "20")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["dimensions"]["visual_quality"]["exact_accuracy"]["n"] == 1
    assert len(report["disagreements"]) == 4
    purge = cli("library", "purge", "--db", target, "--days", "0")
    assert purge.returncode == 0 and "removed 0 kept clip(s) and 0 result(s)" in purge.stdout
    table = tmp_path / "results.csv"
    assert cli("library", "export", str(table), "--format", "results-csv", "--db", target).returncode == 0
    lines = table.read_text().splitlines()
    assert len(lines) == 4 and lines[0].startswith("result_id,kind") and ",A," in lines[2] + lines[3]
    refused = cli("library", "import", str(table), "--format", "results-csv", "--db", target)
    assert refused.returncode == 2 and "for reading only" in refused.stderr
    bad = cli("library", "import", str(tmp_path / "missing.jsonl"), "--db", target)
    assert bad.returncode == 2 and "no such file" in bad.stderr and "Traceback" not in bad.stderr
