"""What a public server needs around the page: capped request bodies, URL inputs fetched before the queue, a bound
on what one visitor may queue on every endpoint, bounded MCP calls, and stopping runs nobody listens to any more.

Gradio 6.31 offers none of these: it parses any JSON body whole, lets one client queue any number of events (65
explain calls from one session filled the queue), lets MCP agents share one internal session, and lets a run whose
client has gone (or never reads its results) hold the single model slot to its end. The request guard is a plain
ASGI middleware passed to ``launch``; every read of Gradio's private queue state goes through gradio_internals.py.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from gradio.utils import get_upload_folder

from vs2demo.serve import gradio_internals
from vs2demo.serve.addresses import TrustedProxies, forwarded_values, uvicorn_trusts_nobody
from vs2demo.serve.fetch import Fetcher, FetchRefused, FetchSettings, url_files

log = logging.getLogger(__name__)

API = "/gradio_api"
MAX_JSON_BYTES = 1 << 20  # every non-upload request: prompts are at most a few kB
MAX_RUNS_PER_SESSION = 2  # model runs: one running and one waiting, per browser tab, API client or MCP session
MAX_RUNS_PER_ADDRESS = 8  # model runs from one address (sessionless /call requests, many tabs, MCP agents)
MAX_EVENTS_PER_ADDRESS = 12  # every queued event from one address, all endpoints together
UNREAD_GRACE_S = 10.0  # a run whose updates nobody has read for this long is stopped
WATCH_EVERY_S = 0.5
MODEL_SLOT = "model"  # the concurrency id of every event that runs the model
EXPLAIN_SLOT, REPORT_SLOT, PLAN_SLOT = "explain", "report", "plan"
QUEUE_SIZE = 64  # Gradio's queue, shared by every endpoint; the groups' shares below add up to it
MCP_USER = b"mcp"  # the x-gradio-user header of Gradio's internal MCP client

Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]


@dataclass(frozen=True)
class Bound:
    """How many events of one concurrency group may be queued or running: per session, per address, in all."""

    per_session: int
    per_address: int
    share: int  # of the whole queue: one kind of event can never fill it for the others
    what: str


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def bounds() -> dict[str, Bound]:
    """Every queued endpoint's group; $VS2_MAX_RUNS_PER_SESSION and $VS2_MAX_RUNS_PER_ADDRESS set the model's."""
    return {MODEL_SLOT: Bound(_env_int("VS2_MAX_RUNS_PER_SESSION", MAX_RUNS_PER_SESSION),
                              _env_int("VS2_MAX_RUNS_PER_ADDRESS", MAX_RUNS_PER_ADDRESS), 32, "runs"),
            EXPLAIN_SLOT: Bound(1, 2, 8, "explanations"),
            REPORT_SLOT: Bound(2, 4, 8, "reports"),
            PLAN_SLOT: Bound(4, 8, 16, "clip checks")}


class BodyTooLarge(Exception):
    pass


class RequestGuard:
    """Refuses oversized bodies (413), URL files it cannot fetch (400) and events past a visitor's bound (429)
    before Gradio reads them."""

    def __init__(self, app: Any, *, demo: Any, max_upload_bytes: int, max_json_bytes: int = MAX_JSON_BYTES,
                 runs_per_session: int | None = None, runs_per_address: int | None = None) -> None:
        gradio_internals.require(demo)  # a renamed private name stops the app here, loudly
        self.app, self.demo = app, demo
        self.max_upload = max_upload_bytes + (1 << 20)  # one file at the limit, plus multipart framing
        self.max_json = max_json_bytes
        self.bounds = bounds()
        model = self.bounds[MODEL_SLOT]
        self.bounds[MODEL_SLOT] = Bound(runs_per_session or model.per_session, runs_per_address or model.per_address,
                                        model.share, model.what)
        # never below the model's own per-address bound (a deployment that raises that one means it)
        self.events_per_address = max(_env_int("VS2_MAX_EVENTS_PER_ADDRESS", MAX_EVENTS_PER_ADDRESS),
                                      self.bounds[MODEL_SLOT].per_address)
        self.proxies = TrustedProxies.from_env()
        self.fetcher = Fetcher(FetchSettings.from_env(max_upload_bytes, get_upload_folder()))
        self.mcp_calls: Counter[str] = Counter()  # tool calls in flight, by "session:ID" and "address:IP"

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
        if path.startswith(f"{API}/mcp"):
            return await self._mcp(scope, body, receive, send)
        if path == f"{API}/queue/join" or path.startswith(f"{API}/call/"):
            payload, fn = self._decode(path, body)
            if fn is not None:
                refusal = self._over_bound(scope, payload.get("session_hash"), fn.concurrency_id)
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

    def address(self, peer: str | None, headers: Any) -> str:
        """The visitor's address (forwarding headers trusted from configured proxies only)."""
        raw = headers.raw if hasattr(headers, "raw") else headers
        return self.proxies.client(peer, forwarded_values(raw))

    def _scope_address(self, scope: dict) -> str:
        client = scope.get("client")
        return self.address(client[0] if client else None, scope["headers"])

    def _request_address(self, request: Any) -> str:
        client = getattr(request, "client", None)
        return self.address(client[0] if client else None, getattr(request, "headers", None) or [])

    def _over_bound(self, scope: dict, session: str | None, group: str | None) -> str | None:
        """A refusal when this request would queue one event too many for its session or address (in its group, or
        all groups together), or more than its group's share of the queue."""
        if self._internal_mcp(scope):  # bounded per MCP session and address when the agent called (_mcp)
            return None
        address = self._scope_address(scope)
        bound = self.bounds.get(group or "")
        per_session, per_address, in_group, everything = Counter(), Counter(), 0, 0
        for event in gradio_internals.queued_events(self.demo):  # waiting and running
            if _is_internal_mcp_request(event.request):
                continue
            mine = self._request_address(event.request) == address
            everything += mine
            if event.group == group:
                in_group += 1
                per_session[event.session] += 1
                per_address[address] += mine
        if everything >= self.events_per_address:
            return f"{everything} requests from your address are already queued or running; wait for them to finish."
        if bound is None:
            return None
        if session and per_session[session] >= bound.per_session:
            return (f"You already have {per_session[session]} {bound.what} queued or running; wait for one to "
                    "finish" + (" (or press Stop)." if group == MODEL_SLOT else "."))
        if per_address[address] >= bound.per_address:
            return f"{per_address[address]} {bound.what} from your address are already queued or running."
        if in_group >= bound.share:
            return f"The server has {in_group} {bound.what} waiting; try again in a minute."
        return None

    def _target(self, path: str, payload: dict) -> Any:
        if path.startswith(f"{API}/call/"):
            name = path[len(f"{API}/call/"):].strip("/")
            return next((fn for fn in self.demo.fns.values() if fn.api_name == name), None)
        index = payload.get("fn_index")
        return self.demo.fns.get(index) if isinstance(index, int) else None

    # -- MCP --------------------------------------------------------------------------------------

    def _internal_mcp(self, scope: dict) -> bool:
        """A queue request from Gradio's own MCP client on this host, for a tool call the guard let through (an
        outside caller sending the same header gains nothing: the calls in flight cap it)."""
        if not _is_internal_mcp_request(scope):
            return False
        queued = sum(_is_internal_mcp_request(e.request) for e in gradio_internals.queued_events(self.demo))
        return queued < sum(n for key, n in self.mcp_calls.items() if key.startswith("address:"))

    async def _mcp(self, scope: dict, body: bytes, receive: Receive, send: Send) -> None:
        """An MCP request: a tool call counts against its MCP session (when the agent has one) and its address
        while it runs; past a bound it is answered with a tool error the agent can read (not an internal URL)."""
        calls = _tool_calls(body)
        if not calls:
            return await self.app(scope, _replay(body, receive), send)
        headers = dict(scope["headers"])
        session = headers.get(b"mcp-session-id", b"").decode("latin-1")[:200]
        keys = [f"address:{self._scope_address(scope)}"] + ([f"session:{session}"] if session else [])
        model = self.bounds[MODEL_SLOT]
        if self.mcp_calls[keys[0]] + len(calls) > model.per_address or (
                session and self.mcp_calls[keys[1]] + len(calls) > model.per_session):
            message = (f"Too many tool calls at once from your {'session' if session else 'address'}: at most "
                       f"{model.per_session if session else model.per_address} run together. Wait for one to finish.")
            return await _reply_json(send, [_tool_error(call.get("id"), message) for call in calls])
        for key in keys:
            self.mcp_calls[key] += len(calls)
        try:
            await self.app(scope, _replay(body, receive), send)
        finally:
            for key in keys:
                self.mcp_calls[key] -= len(calls)
                if self.mcp_calls[key] <= 0:
                    del self.mcp_calls[key]


def _is_internal_mcp_request(scope_or_request: Any) -> bool:
    if isinstance(scope_or_request, dict):
        client, headers = scope_or_request.get("client"), dict(scope_or_request.get("headers", []))
        user = headers.get(b"x-gradio-user")
    else:
        client = getattr(scope_or_request, "client", None)
        raw = getattr(getattr(scope_or_request, "headers", None), "raw", [])
        user = dict(raw).get(b"x-gradio-user")
    return user == MCP_USER and bool(client) and client[0] in ("127.0.0.1", "::1")


def _tool_calls(body: bytes) -> list[dict]:
    """The JSON-RPC "tools/call" messages of an MCP request body (one message or a batch)."""
    try:
        message = json.loads(body)
    except ValueError:
        return []
    messages = message if isinstance(message, list) else [message]
    return [m for m in messages if isinstance(m, dict) and m.get("method") == "tools/call"]


def _tool_error(call_id: Any, message: str) -> dict:
    return {"jsonrpc": "2.0", "id": call_id, "result": {"content": [{"type": "text", "text": message}],
                                                        "isError": True}}


async def _reply_json(send: Send, answers: list[dict]) -> None:
    payload = json.dumps(answers[0] if len(answers) == 1 else answers).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})


def _fill_defaults(payload: dict, fn: Any) -> bool:
    """A raw HTTP caller may leave out trailing settings, as gradio_client callers may: each missing value becomes
    its component's default (the official setting); Gradio itself would refuse the call. True if any was added."""
    data = payload.get("data")
    if not isinstance(data, list) or len(data) >= len(fn.inputs):
        return False
    payload["data"] = data + [getattr(block, "value", None) for block in fn.inputs[len(data):]]
    return True


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
    """``launch()`` keywords: one exact byte limit for uploads (Gradio's check and ours) and the guard (which alone
    decides whose address a request is: uvicorn's own trust of forwarding headers is turned off)."""
    from starlette.middleware import Middleware

    gradio_internals.require(demo)  # here too: the launch itself fails (the guard is built at the first request)
    gradio_internals.mcp_lists_tools_only()  # the MCP schema lists the tools the MCP server serves, no more
    uvicorn_trusts_nobody()
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
    event_id = gradio_internals.current_event_id()
    session = getattr(request, "session_hash", None)
    queue = gradio_internals.queue_of(request)
    grace_s = UNREAD_GRACE_S if grace_s is None else grace_s
    finished = threading.Event()
    if event_id is None or session is None or queue is None:
        return finished.set

    def watch() -> None:
        unread_since: float | None = None
        while not finished.wait(WATCH_EVERY_S):
            alive, unread = gradio_internals.event_state(queue, event_id, session)
            if not alive or unread is None:
                reason = "the client disconnected"
            elif unread > 0:
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
