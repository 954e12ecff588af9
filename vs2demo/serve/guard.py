"""What a public server needs around the page: capped request bodies, a bound on the runs one visitor may queue,
and stopping runs nobody listens to any more.

Gradio 6.31 offers none of these: it parses any JSON body whole, lets one client queue any number of runs, and
lets a run whose client has gone (or never reads its results) hold the single model slot to its end. The
request guard is a plain ASGI middleware passed to ``launch``; the listener watch reads the queue's own
bookkeeping (private attributes of the pinned Gradio version, checked by tests/test_serving.py).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from gradio.utils import get_upload_folder

from vs2demo.serve.fetch import Fetcher, FetchRefused, FetchSettings, url_files

log = logging.getLogger(__name__)

API = "/gradio_api"
MAX_JSON_BYTES = 1 << 20  # every non-upload request: prompts are at most a few kB
MAX_RUNS_PER_SESSION = 2  # one running and one waiting, per browser tab or API client
MAX_RUNS_PER_ADDRESS = 8  # sessionless /call requests (and many tabs) from one address
UNREAD_GRACE_S = 10.0  # a run whose updates nobody has read for this long is stopped
WATCH_EVERY_S = 0.5
MODEL_SLOT = "model"  # the concurrency id of every event that runs the model

Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


class BodyTooLarge(Exception):
    pass


class RequestGuard:
    """Refuses oversized bodies (413) and runs past a visitor's bound (429) before Gradio reads them."""

    def __init__(self, app: Any, *, demo: Any, max_upload_bytes: int, max_json_bytes: int = MAX_JSON_BYTES,
                 runs_per_session: int | None = None, runs_per_address: int | None = None) -> None:
        self.app, self.demo = app, demo
        self.max_upload = max_upload_bytes + (1 << 20)  # one file at the limit, plus multipart framing
        self.max_json = max_json_bytes
        self.runs_per_session = runs_per_session or _env_int("VS2_MAX_RUNS_PER_SESSION", MAX_RUNS_PER_SESSION)
        self.runs_per_address = runs_per_address or _env_int("VS2_MAX_RUNS_PER_ADDRESS", MAX_RUNS_PER_ADDRESS)
        self.fetcher = Fetcher(FetchSettings.from_env(max_upload_bytes, get_upload_folder()))

    async def __call__(self, scope: dict, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        path = scope["path"]
        upload = path.startswith((f"{API}/upload", f"{API}/process_recording"))
        limit = self.max_upload if upload else self.max_json
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            return await _reply(send, 413, f"The request is larger than {limit} bytes.")
        if upload:  # streamed through, counted: a chunked body has no Content-Length
            return await _counted(self.app, scope, receive, send, limit)
        body = await _read_capped(receive, limit)
        if body is None:
            return await _reply(send, 413, f"The request is larger than {limit} bytes.")
        if path == f"{API}/queue/join" or path.startswith(f"{API}/call/"):
            payload, fn = self._decode(path, body)
            if fn is not None and fn.concurrency_id == MODEL_SLOT:  # quick, non-model events pass as they are
                refusal = self._over_bound(scope, payload.get("session_hash"))
                if refusal:
                    return await _reply(send, 429, refusal)
            urls = url_files(payload.get("data"))
            if urls:  # fetched here, capped, before the run is queued (Gradio would fetch inside the model's slot)
                try:
                    await self.fetcher.localise(urls)
                except FetchRefused as exc:
                    return await _reply(send, 400, str(exc))
            if (fn is not None and _fill_defaults(payload, fn)) or urls:
                body = json.dumps(payload).encode()
                scope = {**scope, "headers": [(k, str(len(body)).encode() if k == b"content-length" else v)
                                              for k, v in scope["headers"]]}
        return await self.app(scope, _replay(body, receive), send)

    def _decode(self, path: str, body: bytes) -> tuple[dict, Any]:
        """The JSON payload and the event it asks for; ({}, None) when it is not ours to judge (Gradio refuses it)."""
        try:
            payload = json.loads(body)
        except ValueError:
            return {}, None
        return (payload, self._target(path, payload)) if isinstance(payload, dict) else ({}, None)

    def _over_bound(self, scope: dict, session: str | None) -> str | None:
        """A refusal when this request would queue one model run too many for its session or address."""
        per_session, per_address = Counter(), Counter()
        for event in list(self.demo._queue.event_ids_to_events.values()):  # waiting and running
            if event.concurrency_id == MODEL_SLOT:
                per_session[event.session_hash] += 1
                per_address[_address(event.request)] += 1
        if session and per_session[session] >= self.runs_per_session:
            return (f"You already have {per_session[session]} runs queued or running; wait for one to finish "
                    "(or press Stop).")
        if per_address[_address(scope)] >= self.runs_per_address:
            return f"{per_address[_address(scope)]} runs from your address are already queued or running."
        return None

    def _target(self, path: str, payload: dict) -> Any:
        if path.startswith(f"{API}/call/"):
            name = path[len(f"{API}/call/"):].strip("/")
            return next((fn for fn in self.demo.fns.values() if fn.api_name == name), None)
        index = payload.get("fn_index")
        return self.demo.fns.get(index) if isinstance(index, int) else None


def _fill_defaults(payload: dict, fn: Any) -> bool:
    """A raw HTTP caller may leave out trailing settings, as gradio_client callers may: each missing value becomes
    its component's default (the official setting); Gradio itself would refuse the call. True if any was added."""
    data = payload.get("data")
    if not isinstance(data, list) or len(data) >= len(fn.inputs):
        return False
    payload["data"] = data + [getattr(block, "value", None) for block in fn.inputs[len(data):]]
    return True


def _address(scope_or_request: Any) -> str:
    client = scope_or_request.get("client") if isinstance(scope_or_request, dict) else getattr(
        scope_or_request, "client", None)
    return client[0] if client else "?"


async def _read_capped(receive: Receive, limit: int) -> bytes | None:
    chunks, size, more = [], 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b""
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # afterwards: wait for the disconnect as usual

    return replay


async def _counted(app: Any, scope: dict, receive: Receive, send: Send, limit: int) -> None:
    seen, started = 0, False

    async def counting_receive() -> dict:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge
        return message

    async def tracking_send(message: dict) -> None:
        nonlocal started
        started = started or message["type"] == "http.response.start"
        await send(message)

    try:
        await app(scope, counting_receive, tracking_send)
    except BodyTooLarge:
        if not started:
            await _reply(send, 413, f"The upload is larger than {limit} bytes.")


async def _reply(send: Send, status: int, detail: str) -> None:
    payload = json.dumps({"detail": detail, "error": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})


def launch_settings(demo: Any, max_file_bytes: int) -> dict[str, Any]:
    """``launch()`` keywords: one exact byte limit for uploads (Gradio's check and ours) and the guard."""
    from starlette.middleware import Middleware

    return {"max_file_size": max_file_bytes,
            "app_kwargs": {"middleware": [Middleware(RequestGuard, demo=demo, max_upload_bytes=max_file_bytes)]}}


# ---- runs nobody listens to ---------------------------------------------------------------------


def watch_listener(request: Any, on_abandoned: Callable[[str], None], grace_s: float | None = None
                   ) -> Callable[[], None]:
    """Call ``on_abandoned(reason)`` once nobody listens to the calling queued run any more; returns ``done``.

    Must be called from inside a Gradio handler. Two cases: the page or client disconnected (Gradio marks the
    event dead), or a client posted the run and never reads it (its updates pile up unread past ``grace_s``).
    Outside a queued run (a direct call, a cached example) it watches nothing.
    """
    from gradio.context import LocalContext

    event_id = LocalContext.event_id.get(None)
    session = getattr(request, "session_hash", None)
    app = getattr(getattr(request, "request", None), "app", None)
    queue = getattr(app.get_blocks(), "_queue", None) if app is not None and hasattr(app, "get_blocks") else None
    grace_s = UNREAD_GRACE_S if grace_s is None else grace_s
    finished = threading.Event()
    if event_id is None or session is None or queue is None:
        return finished.set

    def watch() -> None:
        unread_since: float | None = None
        while not finished.wait(WATCH_EVERY_S):
            event = queue.event_ids_to_events.get(event_id)
            messages = queue.pending_messages_per_session.get(session)
            if event is None or not event.alive or messages is None:
                reason = "the client disconnected"
            elif messages.qsize() > 0:
                unread_since = unread_since or time.monotonic()
                if time.monotonic() - unread_since <= grace_s:
                    continue
                reason = f"nobody read its updates for {grace_s:g} s"
            else:
                unread_since = None
                continue
            log.info("stopping run %s: %s", event_id, reason)
            on_abandoned(reason)
            return

    threading.Thread(target=watch, name=f"vs2-watch-{event_id[:8]}", daemon=True).start()
    return finished.set
