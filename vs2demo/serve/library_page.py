"""The page's library parts: the "Stored results" tab (a reopened result in full, with the feedback form beside
its score cards, and this browser's results), the "Reviews" tab (agreement with people), the link shown after each
run, and the page load that opens ``?r=ID``. Handlers are the Library's (library.py); this is layout and wiring."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import gradio as gr

from vs2demo.core.dimensions import DIMENSIONS, JUDGED, OVERALL, SCORE_VALUES
from vs2demo.core.errors import StoreError
from vs2demo.present import result_html
from vs2demo.present.evidence_html import STORED_PLAYER
from vs2demo.serve.library import KEEP_CLIP_DEFAULT, Library, Row, new_token, token_secret
from vs2demo.store.feedback import AGREE, DISAGREE

TOKEN_KEY = "vs2-reviewer-token"
AGREEMENT = [("agree", AGREE), ("disagree", DISAGREE)]
PREFERENCE = [("A", "A"), ("B", "B"), ("tie", "tie"), ("both bad", "both_bad")]
SCORE_CHOICES = [("–", None)] + [(str(s), s) for s in SCORE_VALUES]
NO_LIBRARY = ("<p class='vs2-meta'>This server keeps no results library (start it with <code>--db</code> or "
              "<code>VS2_DB</code>).</p>")


@dataclass
class Shared:
    """What every tab needs: the browser's token (localStorage) and the library (None: results are not stored)."""

    token: gr.BrowserState
    library: Library | None


def shared(library: Library | None) -> Shared:
    return Shared(gr.BrowserState("", storage_key=TOKEN_KEY, secret=token_secret()), library)


def keep_clip_box() -> gr.Checkbox:
    return gr.Checkbox(label="Keep the clip with the link (so that the stored result can play it)",
                       value=KEEP_CLIP_DEFAULT, elem_id="vs2-keep-clip", container=False)


def link_after(run: Any, stored: gr.State, link: gr.HTML, s: Shared, keep: gr.Checkbox | None = None) -> None:
    """After a run (or an explanation): the result goes to this browser and its link shows in ``link``."""
    if s.library is None:
        return
    lib = s.library

    def show(rid: str | None, token: str | None, keep: bool = False, request: gr.Request = None) -> str:
        return lib.after_run(rid, token, keep, request)

    inputs = [stored, s.token] + ([keep] if keep is not None else [])
    run.then(show, inputs, link, queue=False, api_visibility="private")


@dataclass
class FormRow:
    verdict: gr.Radio
    score: gr.Dropdown
    comment: gr.Textbox
    seconds: gr.Textbox
    unsupported: gr.Checkbox

    def components(self) -> list:
        return [self.verdict, self.score, self.comment, self.seconds, self.unsupported]


def library_tab(s: Shared) -> dict[str, Any]:
    """The "Stored results" tab; returns its components by name (for the page load)."""
    c: dict[str, Any] = {}
    with gr.Column(elem_id="vs2-library"):
        with gr.Row(equal_height=False):
            c["open_box"] = gr.Textbox(label="Open a stored result: paste its link or id", max_lines=1, scale=4,
                                       elem_id="vs2-open-box")
            c["open"] = gr.Button("Open", scale=0, min_width=120, elem_id="vs2-open")
        c["message"] = gr.HTML(elem_id="vs2-library-message")
        c["header"] = gr.HTML(elem_id="vs2-stored-header")
        c["summary"] = gr.HTML(elem_id="vs2-stored-summary")
        c["clip"] = gr.Dropdown(choices=[], label="Clip of this result", visible=False, elem_id="vs2-stored-clip")
        with gr.Row(equal_height=False, elem_classes="vs2-stack-narrow"):
            with gr.Column(scale=2, min_width=300):
                c["video"] = gr.Video(label="The kept clip", visible=False, interactive=False,
                                      elem_id=STORED_PLAYER.split()[0].lstrip("#"), height=280)
                c["text"] = gr.Textbox(label="Reasoning (stored)", lines=10, max_lines=18, interactive=False,
                                       elem_id="vs2-stored-reasoning")
            with gr.Column(scale=3, min_width=300):
                c["radar"] = gr.Plot(label="Scores", elem_id="vs2-stored-radar", min_width=280)
                c["cards"] = gr.HTML(elem_id="vs2-stored-cards")
        c["gallery"] = gr.Gallery(label="Frames the model saw (click: seek the kept clip, and note the second for "
                                  "your feedback)", columns=6, height=220, object_fit="contain", allow_preview=False,
                                  elem_id="vs2-stored-frames")
        c["times"] = gr.State([])
        c["evidence"] = gr.HTML(elem_id="vs2-stored-evidence")
        c["stored"], c["versions"] = gr.State(None), gr.State({})
        _feedback_form(s, c)
        with gr.Accordion("This browser's stored results", open=False):
            c["mine"] = gr.HTML(elem_id="vs2-mine")
            with gr.Row():
                admin = gr.Textbox(label="Admin token (lists every visitor's results)", type="password",
                                   max_lines=1, elem_id="vs2-admin-token")
                refresh = gr.Button("Refresh the list", elem_id="vs2-refresh-mine")
    if s.library is not None:
        refresh.click(s.library.listing, [s.token, admin], c["mine"], queue=False, api_visibility="private")
        c["open"].click(lambda text, token: _open(s.library, text, token), [c["open_box"], s.token], view_outputs(c),
                        queue=False, api_visibility="private")
        c["clip"].change(lambda rid, item, token: _switch(s.library, rid, item, token), [c["stored"], c["clip"],
                                                                                          s.token],
                         clip_outputs(c), queue=False, api_visibility="private")
    return c


def _feedback_form(s: Shared, c: dict[str, Any]) -> None:
    with gr.Accordion("Your feedback on this result (beside the score cards above)", open=True,
                      elem_id="vs2-feedback"):
        gr.Markdown("Per dimension: do you agree with the score, the score you would give, a short comment, the "
                    "seconds it concerns (click frames above) and whether the rationale states something that is "
                    "not in the clip. Only this browser can edit or delete its own feedback.")
        c["target"] = gr.Radio([(d.title, d.key) for d in DIMENSIONS], value=DIMENSIONS[0].key,
                               label="A frame click adds its second to", elem_id="vs2-fb-target")
        rows: list[FormRow] = []
        for key in JUDGED:
            title = next((d.title for d in DIMENSIONS if d.key == key), "Overall (sum of the three)")
            with gr.Row(equal_height=False, visible=key != OVERALL, elem_id=f"vs2-fb-{key}") as line:
                rows.append(FormRow(
                    gr.Radio(AGREEMENT, label=title, min_width=180, elem_id=f"vs2-fb-{key}-verdict"),
                    gr.Dropdown(SCORE_CHOICES, value=None, label="You would give", min_width=100,
                                elem_id=f"vs2-fb-{key}-score"),
                    gr.Textbox(label="Comment", max_lines=3, min_width=200, elem_id=f"vs2-fb-{key}-comment"),
                    gr.Textbox(label="Seconds", max_lines=1, min_width=100, placeholder="e.g. 1.5, 3",
                               elem_id=f"vs2-fb-{key}-seconds"),
                    gr.Checkbox(label="States something not in the clip", min_width=160,
                                elem_id=f"vs2-fb-{key}-unsupported")))
            c[f"line_{key}"] = line
        c["rows"] = rows
        with gr.Row():
            save = gr.Button("Save my feedback", variant="primary", elem_id="vs2-fb-save")
            delete = gr.Button("Delete my feedback on this clip", variant="stop", elem_id="vs2-fb-delete")
        c["fb_status"] = gr.HTML(elem_id="vs2-fb-status")
        c["fb_list"] = gr.HTML(elem_id="vs2-fb-list")
        with gr.Accordion("Delete one feedback by its number (yours, or anyone's with the admin token)",
                          open=False), gr.Row():
            number = gr.Number(label="Feedback #", precision=0, elem_id="vs2-fb-number")
            admin = gr.Textbox(label="Admin token", type="password", max_lines=1, elem_id="vs2-fb-admin")
            remove = gr.Button("Delete this feedback", variant="stop", elem_id="vs2-fb-remove")
    fields = [x for r in rows for x in r.components()]
    if s.library is None:
        return
    lib = s.library

    def on_save(rid: str | None, item: int | None, token: str, versions: dict, *values: Any) -> tuple:
        if not rid:
            return result_html.error_html("Open a stored result first."), gr.skip(), gr.skip()
        message, versions = lib.save(rid, int(item or 0), token, versions, _rows(values))
        stored = lib.results.get(rid, with_frames=False)
        return result_html.status_html(message), versions, lib.feedback_html(stored, token)

    def on_delete(rid: str | None, item: int | None, token: str) -> tuple:
        if not rid:
            return (result_html.error_html("Open a stored result first."), gr.skip(), gr.skip(),
                    *[gr.skip()] * len(fields))
        n = lib.delete_mine(rid, int(item or 0), token)
        empty = [x for _ in JUDGED for x in (None, None, "", "", False)]
        return (result_html.status_html(f"Deleted {n} of your feedback rows."), {},
                lib.feedback_html(lib.results.get(rid, with_frames=False), token), *empty)

    save.click(on_save, [c["stored"], c["clip"], s.token, c["versions"], *fields],
               [c["fb_status"], c["versions"], c["fb_list"]], api_visibility="private",
               concurrency_id="feedback", concurrency_limit=4)
    delete.click(on_delete, [c["stored"], c["clip"], s.token], [c["fb_status"], c["versions"], c["fb_list"], *fields],
                 api_visibility="private", concurrency_id="feedback", concurrency_limit=4)

    def on_remove(rid: str | None, feedback_id: float | None, token: str, admin_token: str) -> tuple:
        try:
            message = lib.delete_any(rid, feedback_id, token, admin_token)
        except StoreError as exc:
            return result_html.error_html(str(exc)), gr.skip()
        listing = lib.feedback_html(lib.results.get(rid, with_frames=False), token) if rid else gr.skip()
        return result_html.status_html(message), listing

    remove.click(on_remove, [c["stored"], number, s.token, admin], [c["fb_status"], c["fb_list"]],
                 api_visibility="private", concurrency_id="feedback", concurrency_limit=4)
    seek_to = gr.Textbox(visible=False)

    # Gradio hands the click's data only to a named parameter (not after *args): one per form row
    def picked(times: list[float], target: str, vq: str, tva: str, pc: str, overall: str,
               evt: gr.SelectData) -> tuple:
        seconds = (vq, tva, pc, overall)
        ok = isinstance(evt.index, int) and 0 <= evt.index < len(times)
        if not ok:
            return (gr.skip(), *[gr.skip()] * len(seconds))
        t = round(times[evt.index], 3)
        out = [gr.skip()] * len(seconds)
        i = list(JUDGED).index(target) if target in JUDGED else 0
        have = [x.strip() for x in (seconds[i] or "").split(",") if x.strip()]
        out[i] = ", ".join([*have, f"{t:g}"]) if f"{t:g}" not in have else seconds[i]
        return (f"{times[evt.index]}|{time.monotonic_ns()}", *out)

    c["gallery"].select(picked, [c["times"], c["target"], *[r.seconds for r in rows]], [seek_to, *[r.seconds
                                                                                                   for r in rows]],
                        queue=False, api_visibility="private")
    seek_to.change(None, seek_to, None, api_visibility="private",
                   js=f"(s) => {{ const v = document.querySelector('{STORED_PLAYER}'); "
                      "if (v && s) { v.currentTime = parseFloat(String(s).split('|')[0]); v.pause(); } return []; }")


def _rows(values: tuple) -> list[Row]:
    """The form's flat values back as rows (five per dimension, then overall)."""
    out = []
    for i in range(0, len(values), 5):
        verdict, score, comment, seconds, unsupported = values[i:i + 5]
        out.append(Row(verdict or None, None if score in (None, "") else int(score), comment or "", seconds or "",
                       bool(unsupported)))
    return out


def clip_outputs(c: dict[str, Any]) -> list:
    """What changes when another clip of the same result is shown."""
    return [c[k] for k in ("text", "radar", "cards", "gallery", "times", "evidence", "versions", "fb_status")] + [
        x for r in c["rows"] for x in r.components()]


OPEN_FIRST = ("message", "header", "summary", "clip", "video", "stored", "fb_list", "line_overall")


def view_outputs(c: dict[str, Any]) -> list:
    """What opening a result fills."""
    return [c[k] for k in OPEN_FIRST] + clip_outputs(c)


def _clip_values(lib: Library, view: dict[str, Any], rid: str, token: str | None, compare: bool | None = None
                 ) -> list:
    """The outputs of clip_outputs for one clip of a result; with ``compare`` (on opening) the form's verdicts
    become A / B / tie / both bad for a comparison, agree / disagree otherwise, and scores show only for the latter."""
    rows, versions = lib.form(rid, view["item"], token, view["kind"])  # the result is read once per view
    values: list[Any] = []
    for r in rows:
        verdict, score = r.verdict, r.score
        if compare is not None:
            verdict = gr.Radio(choices=PREFERENCE if compare else AGREEMENT, value=r.verdict)
            score = gr.Dropdown(value=r.score, visible=not compare)
        values += [verdict, score, r.comment, r.seconds, r.unsupported]
    return [view["text"], view["radar"], view["cards"], view["gallery"], view["times"], view["evidence"], versions,
            "", *values]


def _open(lib: Library, text: str | None, token: str | None) -> list:
    """A stored result in full, from a link or a bare id; a bad one is one message and nothing else changes."""
    query = (text or "").strip()
    if "r=" in query:
        query = query.split("r=", 1)[1].split("&", 1)[0].split("#", 1)[0]
    try:
        stored, view = lib.open(query, token)
    except StoreError as exc:
        return [result_html.error_html(str(exc)), *[gr.skip()] * (OPEN_OUTPUTS - 1)]
    compare = stored.kind == "compare"
    clips = view["clips"]
    return [result_html.status_html(f"Opened the stored result ?r={stored.id} (from {stored.date})."),
            view["header"], view["summary"],
            gr.Dropdown(choices=[(n, i) for n, i in clips], value=0, visible=len(clips) > 1),
            gr.Video(value=view["video"], visible=view["video"] is not None), stored.id, view["feedback"],
            gr.Row(visible=compare), *_clip_values(lib, view, stored.id, token, compare)]


CLIP_OUTPUTS = 8 + 5 * len(JUDGED)
OPEN_OUTPUTS = len(OPEN_FIRST) + CLIP_OUTPUTS


def _switch(lib: Library, rid: str | None, item: int | None, token: str | None) -> list:
    if not rid:
        return [gr.skip()] * CLIP_OUTPUTS
    stored = lib.results.get(rid)
    return _clip_values(lib, lib.view(stored, int(item or 0), token), rid, token)


def reviews_tab(s: Shared) -> None:
    """The "Reviews" tab: agreement with people over every stored review, as the paper reports it."""
    gr.Markdown("How often the judge agrees with the reviewers of this library: exact and relaxed accuracy of the "
                "written scores, Spearman (SRCC) and Pearson (PLCC) correlation of the official soft score with "
                "the reviewer's score, and pairwise accuracy, each with its 95% bootstrap interval and n. "
                "A reviewer's *agree* counts as the model's own score. CLI: `python -m vs2demo agreement`.")
    with gr.Row():
        admin = gr.Textbox(label="Admin token (shows every disagreement)", type="password", max_lines=1)
        refresh = gr.Button("Compute agreement", variant="primary", elem_id="vs2-reviews-refresh")
    table = gr.HTML(elem_id="vs2-reviews-table")
    matrix = gr.Plot(label="Confusion matrices: people (rows) against the model (columns)",
                     elem_id="vs2-reviews-confusion")
    gr.Markdown("**Disagreements** (results of this browser, or that it reviewed): each opens its result.")
    listing = gr.HTML(elem_id="vs2-reviews-disagreements")
    if s.library is None:
        table.value = NO_LIBRARY
        return
    refresh.click(s.library.reviews, [s.token, admin], [table, matrix, listing], api_visibility="private",
                  concurrency_id="reviews", concurrency_limit=1)


def on_load(demo: gr.Blocks, tabs: gr.Tabs, s: Shared, c: dict[str, Any]) -> None:
    """When the page opens: the browser gets its token, and ``?r=ID`` opens that result in the library tab."""

    def load(token: str | None, request: gr.Request) -> list:
        token = new_token(token)
        outputs = view_outputs(c)
        query = dict(getattr(request, "query_params", {}) or {}).get("r")
        if s.library is None:
            message = result_html.error_html("This server keeps no results library.") if query else NO_LIBRARY
            return [token, gr.skip() if not query else gr.Tabs(selected="library"), gr.skip(), message,
                    *[gr.skip()] * (len(outputs) - 1)]
        mine = s.library.listing(token)
        if query is None:
            return [token, gr.skip(), mine, *[gr.skip()] * len(outputs)]
        return [token, gr.Tabs(selected="library"), mine, *_open(s.library, query, token)]

    demo.load(load, [s.token], [s.token, tabs, c["mine"], *view_outputs(c)], api_visibility="private")
