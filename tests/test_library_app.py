"""The app stores every finished result in one place (score, samples, compare, rank, explanation), keeps a page
session's results to itself until its browser claims them, and the report carries the link."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from gradio.utils import get_upload_folder
from gradio_client import handle_file

from tests.helpers import ASSETS, SETTINGS, ScriptedEvaluator
from tests.reviews import pair, serve_library, single
from vs2demo.core.errors import InputError, StoreError
from vs2demo.core.options import GenerationOptions
from vs2demo.serve.handlers import DemoApp
from vs2demo.serve.library import Library, Row, page_url
from vs2demo.serve.requests import parse_seconds
from vs2demo.store.results import reviewer_id

TEXT = ("<think>The ball bounces.</think>\n(1) visual quality: 4\n(2) text-to-video alignment: 4\n"
        "(3) physical/common-sense consistency: 3")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    target = str(tmp_path_factory.mktemp("lib") / "library.db")
    demo, client, library = serve_library(ScriptedEvaluator(TEXT, delay_s=0.001), target)
    yield client, library
    demo.close()


def newest(library: Library):
    return library.results.get(library.results.ids()[-1])


def test_every_kind_of_run_is_stored_with_its_frames(served) -> None:
    client, library = served
    bounce, sink = handle_file(str(ASSETS / "ball_bounces.mp4")), handle_file(str(ASSETS / "ball_sinks.mp4"))
    outputs = client.predict(bounce, "a red ball", *SETTINGS, 1, api_name="/score")
    assert len(outputs) == 9  # the API's outputs are unchanged: the stored id is per-visitor state
    single = newest(library)
    assert (single.kind, single.title, single.prompt, single.model, single.seeds) == (
        "single", "ball_bounces.mp4", "a red ball", "fake", (1,))
    assert single.settings["seed"] == 1 and "--seed 1" in single.command
    assert single.payload == outputs[7]  # what the page's JSON download holds
    plan = outputs[7]["frames"]
    assert [f.seconds for f in single.frames] == pytest.approx(plan["timestamps_s"], abs=1e-3)
    assert all(f.image[:4] == b"RIFF" for f in single.frames)  # WebP thumbnails
    assert single.clip_size is None  # never the clip unless asked

    client.predict(bounce, sink, "a red ball", False, None, *SETTINGS, 1, api_name="/compare")
    pair = newest(library)
    assert pair.kind == "compare" and [n for n, _ in pair.clips()] == ["A", "B"]
    assert {f.item for f in pair.frames} == {0, 1} and "vs2-headline" in library.view(pair, 0, None)["summary"]

    client.predict([bounce, sink], "a red ball", "overall", *SETTINGS, 1, api_name="/rank")
    ranked = newest(library)
    assert ranked.kind == "rank" and ranked.command.startswith("python -m vs2demo rank ball_bounces.mp4")
    assert [n for n, _ in ranked.clips()] == ["ball_bounces.mp4", "ball_sinks.mp4"]
    assert {f.item for f in ranked.frames} == {0, 1}
    view = library.view(ranked, 1, None)
    assert "Best of 2" in view["summary"] and view["gallery"] and view["text"].startswith("<think>")


def test_a_sessions_results_are_nobodys_until_its_browser_claims_them(served) -> None:
    client, library = served
    client.predict(handle_file(str(ASSETS / "ball_bounces.mp4")), "a red ball", *SETTINGS, 1, api_name="/score")
    stored = newest(library)
    assert stored.owner.startswith("session:")
    mine = reviewer_id("browser-token-0123456789")
    assert stored.id not in {x.id for x in library.results.listing(mine)}
    html = library.after_run(stored.id, "browser-token-0123456789", False, None)  # no session: not claimed
    assert f"?r={stored.id}" in html and library.results.get(stored.id).owner.startswith("session:")
    assert library.results.claim(stored.id, stored.owner, mine)
    assert next(x.id for x in library.results.listing(mine)) == stored.id
    assert stored.id not in {x.id for x in library.results.listing(reviewer_id("someone-else-0123456789"))}


def test_samples_and_explanations_are_stored_and_reports_carry_the_link(evaluator, clip, tmp_path) -> None:
    library = Library(str(tmp_path / "lib.db"))
    app = DemoApp(evaluator, library)
    upload = Path(get_upload_folder()) / f"library-test-{tmp_path.name}" / "clip.mp4"  # where the page reads from
    upload.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(clip, upload)
    *_, last = app.score(str(upload), "a red ball", seed=3, samples=4)
    stored = library.results.get(last[-1])
    assert stored.kind == "samples" and stored.seeds == (3, 4, 5, 6) and len(stored.clips()[0][1]) == 4
    assert "stability" in stored.payload and "--samples 4" in stored.command
    samples = evaluator.evaluate(clip, "a red ball", GenerationOptions(seed=3))
    *_, last = app.explain(samples)
    explained = library.results.get(last[-1])
    assert explained.kind == "explanation" and "explanation" in explained.payload
    assert "python -m vs2demo explain" in explained.command
    view = library.view(explained, 0, None)
    assert 'class="vs2-evidence vs2-ev"' in view["evidence"]
    report = Path(app.report(samples, None, explained.id)).read_text(encoding="utf-8")
    assert f"?r={explained.id}" in report


def test_page_url_and_seconds() -> None:
    request = SimpleNamespace(headers={"referer": "https://example.org/space/?r=abc#x"})
    assert page_url(request) == "https://example.org/space/"
    assert page_url(None) == ""
    assert parse_seconds("1.5, 3 s;4") == (1.5, 3.0, 4.0) and parse_seconds("") == ()
    for bad in ("soon", "-1", "nan", "inf"):
        with pytest.raises(InputError, match="seconds must be"):
            parse_seconds(bad)


def test_the_feedback_form_saves_edits_and_refuses_stale_edits(tmp_path) -> None:
    library = Library(str(tmp_path / "lib.db"))
    rid = library.results.save(pair(), owner=reviewer_id("me-0123456789-abcdefghij"))
    me, other = "me-0123456789-abcdefghij", "other-0123456789-abcdefghij"
    rows = [Row("A", None, "A is <i>crisper</i>", "1.5, 2", False), Row(), Row("both_bad"),
            Row("B", comment="B overall")]
    message, versions = library.save(rid, 0, me, {}, rows)
    assert message == "Saved your feedback on 3 dimension(s)." and set(versions) == {
        "visual_quality", "physical_consistency", "overall"}
    form, seen = library.form(rid, 0, me)
    assert form[0] == Row("A", None, "A is <i>crisper</i>", "1.5, 2", False) and form[1] == Row()
    assert seen == versions
    stale, _ = library.save(rid, 0, me, {}, [Row("B"), Row(), Row(), Row()])  # a second tab that saw nothing
    assert "edited meanwhile" in stale and library.form(rid, 0, me)[0][0].verdict == "A"
    assert library.form(rid, 0, other)[0] == [Row()] * 4  # another browser sees an empty form
    bad, _ = library.save(rid, 0, other, {}, [Row("agree", 7), Row(), Row(), Row()])
    assert "1 to 5" in bad
    html = library.feedback_html(library.results.get(rid), other)
    assert "A is &lt;i&gt;crisper&lt;/i&gt;" in html and "<i>" not in html and "vs2-fb-mine" not in html
    assert library.delete_mine(rid, 0, other) == 0 and library.delete_mine(rid, 0, me) == 3


def test_deleting_by_number_is_the_owners_or_the_admins(tmp_path, monkeypatch) -> None:
    library = Library(str(tmp_path / "lib.db"))
    rid = library.results.save(pair())
    other_rid = library.results.save(pair())
    mine, theirs = "me-0123456789-abcdefghij", "them-0123456789-abcdefghij"
    library.save(rid, 0, theirs, {}, [Row("A"), Row(), Row(), Row()])
    (row,) = library.feedback.for_result(rid)
    with pytest.raises(StoreError, match="another reviewer"):
        library.delete_any(rid, row.id, mine, None)
    assert library.delete_any(other_rid, row.id, theirs, None).startswith("This result has no feedback")
    monkeypatch.setenv("VS2_ADMIN_TOKEN", "admin-secret")
    with pytest.raises(StoreError, match="another reviewer"):
        library.delete_any(rid, row.id, mine, "wrong")
    assert library.delete_any(rid, row.id, mine, "admin-secret") == f"Deleted feedback #{row.id}."
    assert library.feedback.for_result(rid) == []


@pytest.mark.parametrize("stored", [pair, single])
def test_opening_a_result_reads_it_once(tmp_path, stored) -> None:
    """Opening a link (its view, then its feedback form) fetches the stored result once, not once per part."""
    from vs2demo.serve.library_page import _clip_values

    lib = Library(str(tmp_path / "lib.db"))
    rid = lib.results.save(stored(), owner=reviewer_id("me"))
    reads = []
    real = lib.results.get
    lib.results.get = lambda *a, **k: (reads.append(a), real(*a, **k))[1]
    result, view = lib.open(rid, "me")
    values = _clip_values(lib, view, rid, "me")
    assert reads == [(rid,)] and values and view["kind"] == result.kind


def test_the_page_measures_the_total_effect_of_the_seconds_a_visitor_names(evaluator, clip) -> None:
    """Explain's "also re-generate without these seconds" box: the segment holding each named second gets a total
    effect; seconds that are not times in the clip get one clear line before anything runs."""
    import gradio as gr

    app = DemoApp(evaluator)
    samples = evaluator.evaluate(clip, "a red ball", GenerationOptions(seed=3))
    *_, last = app.explain(samples, "", None, "2.9 s")
    explanation = last[4]
    holding = next(i for i, s in enumerate(explanation.segments) if s.start_s <= 2.9 <= s.end_s)
    asked = [t for t in explanation.total if t.segments == (holding,)]
    assert len(asked) == 1 and asked[0].why in ("picked", "top by grounding; asked for")
    duration = samples[0].plan.info.duration_s
    for bad, says in (("soon", "seconds must be numbers"), (f"{duration + 5:g}", "the clip lasts")):
        with pytest.raises(gr.Error, match=says):
            next(app.explain(samples, "", None, bad))
