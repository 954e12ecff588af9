"""Every read of Gradio's private state, in one place, checked at startup.

The request guard and the listener watch need what Gradio 6.31 keeps to itself: the queue's events (who queued
what, and whether its client is still there), each session's unread messages, the id of the event a handler runs
in, and the attribute that keeps a function off the MCP tool list. None of it is public API, so a Gradio upgrade
may rename any of it. ``require`` checks every name used here and raises ``GradioInternalsChanged`` naming the
missing ones: the app refuses to start (and tests/test_gradio_internals.py fails) instead of silently running
without its bounds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

log = logging.getLogger(__name__)

QUEUE = "_queue"  # Blocks: the event queue
EVENTS = "event_ids_to_events"  # Queue: event id -> Event, waiting and running
MESSAGES = "pending_messages_per_session"  # Queue: session -> its unread messages (an asyncio queue)
EVENT_FIELDS = ("session_hash", "concurrency_id", "request", "alive")
MCP_TYPE = "_mcp_type"  # on a function: "tool" (listed by the MCP server) or anything else (not listed)


class GradioInternalsChanged(RuntimeError):
    """A private Gradio name this app relies on is gone: pin the tested Gradio version or update this module."""


@dataclass(frozen=True)
class QueuedEvent:
    """What the guard needs to know of a waiting or running event."""

    session: str
    group: str | None  # the concurrency id
    request: Any  # the HTTP request that queued it


def require(demo: Any) -> None:
    """Raise GradioInternalsChanged unless every private name used here exists in the installed Gradio."""
    from gradio.context import LocalContext
    from gradio.queueing import Event

    missing = []
    queue = getattr(demo, QUEUE, None)
    if queue is None:
        missing.append(f"Blocks.{QUEUE}")
    else:
        missing += [f"Queue.{name}" for name in (EVENTS, MESSAGES) if not hasattr(queue, name)]
    if not hasattr(LocalContext, "event_id"):
        missing.append("LocalContext.event_id")
    try:
        probe = Event(None, SimpleNamespace(concurrency_id="probe"), None, None)
        missing += [f"Event.{name}" for name in EVENT_FIELDS if not hasattr(probe, name)]
    except Exception as exc:  # a changed constructor is a change too
        missing.append(f"Event(...): {exc}")
    if missing:
        raise GradioInternalsChanged("Gradio's private names this app needs are missing: " + ", ".join(missing)
                                     + ". Install the pinned Gradio (requirements.txt) or update "
                                       "vs2demo/serve/gradio_internals.py.")


def queued_events(demo: Any) -> Iterator[QueuedEvent]:
    """Every event waiting or running in ``demo``'s queue."""
    for event in list(getattr(getattr(demo, QUEUE), EVENTS).values()):
        yield QueuedEvent(event.session_hash, event.concurrency_id, event.request)


def current_event_id() -> str | None:
    """The id of the queued event the calling handler runs in (None outside one: a direct call, a cached example)."""
    from gradio.context import LocalContext

    return LocalContext.event_id.get(None)


def queue_of(request: Any) -> Any:
    """The queue of the app that received ``request`` (a gr.Request), or None when it came from no app."""
    app = getattr(getattr(request, "request", None), "app", None)
    if app is None or not hasattr(app, "get_blocks"):
        return None
    return getattr(app.get_blocks(), QUEUE)


def event_state(queue: Any, event_id: str, session: str) -> tuple[bool, int | None]:
    """(is the event still there with its client, how many of the session's messages are unread; None: the
    session's message queue is gone)."""
    event = getattr(queue, EVENTS).get(event_id)
    messages = getattr(queue, MESSAGES).get(session)
    return (event is not None and event.alive), (None if messages is None else messages.qsize())


def page_only(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Keep ``fn`` off Gradio's MCP tool list (Gradio lists only functions without the mark or marked "tool")."""
    setattr(fn, MCP_TYPE, "page")
    return fn


TOOL_MAP = "get_tool_to_endpoint"  # GradioMCPServer: tool name -> endpoint, read by the tool list and /schema


def mcp_lists_tools_only() -> None:
    """Make Gradio's MCP schema (/gradio_api/mcp/schema) list what its tool list lists: Gradio 6.31 leaves the page's
    endpoints out of tools/list but puts them in the schema under names like score_1, which then fail ("pop index
    out of range"). Dropping them where both are built keeps the two in step. Idempotent."""
    from gradio.mcp import GradioMCPServer

    original = getattr(GradioMCPServer, TOOL_MAP, None)
    if original is None:
        raise GradioInternalsChanged(f"GradioMCPServer.{TOOL_MAP} is gone: update vs2demo/serve/gradio_internals.py")
    if getattr(original, "_vs2_tools_only", False):
        return

    def tools_only(self: Any) -> dict[str, str]:
        mapping = original(self)
        kept = {}
        for tool, endpoint in mapping.items():
            block_fn = self.get_block_fn_from_endpoint_name(endpoint)
            if getattr(getattr(block_fn, "fn", None), MCP_TYPE, "tool") == "tool":
                kept[tool] = endpoint
        return kept

    tools_only._vs2_tools_only = True  # type: ignore[attr-defined]
    setattr(GradioMCPServer, TOOL_MAP, tools_only)
