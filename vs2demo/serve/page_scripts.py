"""The page's own browser code (the player and scrolling; the evidence and library panels carry theirs) and the CSS
that goes with it."""

from __future__ import annotations

from vs2demo.present.result_html import ERROR_CLASS

PLAYERS = ("vs2-video", "vs2-video-a", "vs2-video-b")  # the upload players' element ids
TOLD = "vs2-told"  # outputs that tell a problem themselves: Gradio's own "Error" mark stays off them
UNPLAYABLE = "data-vs2-unplayable"  # set on a player's frame while its browser cannot play the clip
FOLDS = "vs2-folds"  # an output that takes no room (not even the column's gap) while it is empty
LARGE_FRAMES = "vs2-frames-large"  # the frame strip's class while every frame is shown large
UNPLAYABLE_NOTE = "This browser cannot play the file. The model reads it anyway: what it will see is said below."


def show(elem_id: str, after_ms: int = 0) -> str:
    """Browser code bringing a tab's status into view when its run starts (the reasoning streams below it);
    ``after_ms`` later, when an update that may move it (a message cleared above it) has been drawn."""
    return (f"() => {{ setTimeout(() => document.querySelector('#{elem_id}')?.scrollIntoView("
            f"{{block: 'start', behavior: 'smooth'}}), {after_ms}); }}")


_SELECTOR = ", ".join(f"#{p}" for p in PLAYERS)

# Gradio's player pops a "Video not playable" toast whenever the browser cannot play a clip: a file that is no video
# at all (which the plan beside the clip already tells, once) or one the model reads but the browser cannot (a GIF,
# an AVI). Media errors do not bubble, so a capture-phase listener sees them first and keeps them from the player's
# own handler; the player's frame is marked instead, and the CSS below says it there (unless the tab tells of a
# problem: the file is then no video at all). The mark goes when a clip loads.
PLAYER_SCRIPT = f"""<script>
(() => {{
  const ours = (ev) => ev.target instanceof HTMLVideoElement && ev.target.closest('{_SELECTOR}');
  document.addEventListener('error', (ev) => {{
    if (!ours(ev)) return;
    ev.stopImmediatePropagation();
    ev.target.parentElement?.setAttribute('{UNPLAYABLE}', '');
  }}, true);
  document.addEventListener('loadeddata', (ev) => {{
    if (ours(ev)) ev.target.parentElement?.removeAttribute('{UNPLAYABLE}');
  }}, true);
}})();
</script>"""

# The compare tab's two players move together while #vs2-sync is ticked: play, pause and seek on either one is
# mirrored on the other (media events do not bubble: listened for in the capture phase).
SYNC_SCRIPT = """<script>
(() => {
  const players = () => ['a', 'b'].map((c) => document.querySelector(`#vs2-video-${c} video`));
  const mirror = (ev) => {
    const [a, b] = players();
    if (!a || !b || (ev.target !== a && ev.target !== b)) return;
    const box = document.querySelector('#vs2-sync input');
    if (!box || !box.checked) return;
    const src = ev.target, other = src === a ? b : a;
    if (Math.abs(other.currentTime - src.currentTime) > 0.05) other.currentTime = src.currentTime;
    if (ev.type === 'play' && other.paused) other.play().catch(() => {});
    if (ev.type === 'pause' && !other.paused) other.pause();
  };
  ['play', 'pause', 'seeked'].forEach((t) => document.addEventListener(t, mirror, true));
})();
</script>"""

SCRIPT = PLAYER_SCRIPT + SYNC_SCRIPT

CSS = f"""
[{UNPLAYABLE}] {{ position: relative; min-height: 6em; }}
[{UNPLAYABLE}] video {{ visibility: hidden; }}
[{UNPLAYABLE}]::after {{ content: "{UNPLAYABLE_NOTE}"; position: absolute; inset: 0; display: flex;
  align-items: center; justify-content: center; text-align: center; padding: 1em;
  color: var(--body-text-color-subdued); }}
[role=tabpanel]:has(.{ERROR_CLASS}) [{UNPLAYABLE}]::after {{ content: none; }}
.{TOLD} .error {{ display: none; }}
.{FOLDS}:has(.prose:empty) {{ display: none !important; }}
.{LARGE_FRAMES} .grid-wrap, .{LARGE_FRAMES} .gallery-container {{ height: auto !important; max-height: none !important;
  overflow: visible !important; }}
@media (max-width: 700px) {{ .{LARGE_FRAMES} .grid-container {{ grid-template-columns: minmax(0, 1fr) !important; }} }}
"""
