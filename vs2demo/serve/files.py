"""Files the page hands to Gradio: thumbnails and JSON downloads, each written once, atomically, and pruned.

Gradio copies returned files into its own cache (cleaned by delete_cache). We give it files, not PIL images:
Gradio rewrites an image's cached file in place on every update that carries it, and a client fetching that
file meanwhile reads it half-written.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
import json
import os
import tempfile
from pathlib import Path

from vs2demo.input.framing import FramePlan
from vs2demo.present import result_html

FILES_DIR = Path(tempfile.gettempdir()) / "vs2demo-files"
KEEP_FILES = 2000  # files kept; the oldest are removed as new ones are written
PRUNE_EVERY = 50  # writes between prunings: listing the folder is not free on every thumbnail
_writes = itertools.count(1)


def write_file(name: str, data: bytes) -> str:
    """Write ``data`` once under ``name`` (atomically, never rewritten) and return its path."""
    FILES_DIR.mkdir(parents=True, exist_ok=True)
    path = FILES_DIR / name
    try:
        # Names are content hashes, so a file is often handed out again. Pruning removes the oldest first: a
        # reused file must look as young as a new one, or it is pruned before Gradio copies it (Gradio then
        # serves the missing original path and the client gets a 403).
        os.utime(path)
    except FileNotFoundError:
        fd, staging = tempfile.mkstemp(dir=FILES_DIR, prefix=".staging-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(staging, path)
        if next(_writes) % PRUNE_EVERY == 0:
            prune()
    return str(path)


def prune() -> None:
    aged = []
    for path in FILES_DIR.glob("*.*"):
        with contextlib.suppress(FileNotFoundError):  # another request may prune at the same time
            aged.append((path.stat().st_mtime, path))
    for listed, stale in sorted(aged)[:-KEEP_FILES]:
        remove_unless_touched(stale, listed)


def remove_unless_touched(path: Path, listed_mtime: float) -> None:
    """Remove ``path`` unless it was handed out again (touched) since pruning listed it: another request, or another
    process sharing the folder, may be handing it to Gradio right now."""
    with contextlib.suppress(FileNotFoundError):
        if path.stat().st_mtime == listed_mtime:
            path.unlink()


def write_json(kind: str, data: dict) -> str:
    """A download (kind: result, comparison, ranking), named by its content; uploads are named by file name only."""
    raw = json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")
    return write_file(f"videoscore2_{kind}_{hashlib.sha256(raw).hexdigest()[:16]}.json", raw)


def write_report(html: str) -> str:
    """An HTML report, named by its content like the JSON downloads."""
    raw = html.encode("utf-8")
    return write_file(f"videoscore2_report_{hashlib.sha256(raw).hexdigest()[:16]}.html", raw)


def thumbnail_files(plan: FramePlan, small) -> list[tuple[str, str]]:
    """(file, caption) per frame the model saw, as WebP files."""
    out = []
    for image, caption in result_html.thumbnails(plan, small):
        buffer = io.BytesIO()
        image.save(buffer, format="WEBP", quality=85)
        data = buffer.getvalue()
        out.append((write_file(f"frame_{hashlib.sha256(data).hexdigest()[:20]}.webp", data), caption))
    return out
