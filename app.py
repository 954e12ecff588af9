"""VideoScore2 explorer: `python app.py [--model ID|PATH|smoke] [--dtype D] [--db PATH|URL] [--host H] [--port P]
[--share] [--mcp]`.

Importing this module builds `demo` (what a Space serves) and loads no model; the model loads on first use, once,
for everyone.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import logging
import os

from vs2demo.core.errors import StoreError
from vs2demo.core.options import DTYPES, Limits, compiled_decode_from_env, model_from_env
from vs2demo.engine.evaluator import Evaluator
from vs2demo.serve.library import Library
from vs2demo.serve.page import build_demo, compute_first_example, launch_kwargs
from vs2demo.serve.runs import ON_ZERO_GPU
from vs2demo.store.db import db_from_env


def compiled_default() -> bool | None:
    """Static cache + compiled decode: per device ($VS2_COMPILED_DECODE wins). On ZeroGPU off unless asked: every
    lease runs in a worker process, and graphs compiled there would be compiled again, inside the lease, by the
    next worker; the main process that outlives leases has no GPU to compile on."""
    switch = compiled_decode_from_env()
    return bool(switch) if ON_ZERO_GPU else switch


evaluator = Evaluator(model_from_env(), limits=Limits.from_env(), compiled=compiled_default())
library = Library(db_from_env())  # opened (and created) on first use
demo = build_demo(evaluator, library)


def _limit_malloc_arenas() -> None:
    """glibc gives busy threads heaps of their own and keeps them; with Gradio's many worker threads
    the app's memory crept up by 16% over 108 requests. Two arenas keep it flat (+1% over the last 50,
    scripts/load_test.py). $MALLOC_ARENA_MAX, when set, wins."""
    if "MALLOC_ARENA_MAX" not in os.environ:
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6").mallopt(-8, 2)  # -8 is M_ARENA_MAX


def main() -> None:
    _limit_malloc_arenas()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ap = argparse.ArgumentParser(description="Run the VideoScore2 explorer.")
    ap.add_argument("--model", help="hub id, local folder, or 'smoke' (default: $VS2_MODEL or TIGER-Lab/VideoScore2)")
    ap.add_argument("--dtype", choices=DTYPES,
                    help="weights' dtype (default: $VS2_DTYPE, else bfloat16 on GPUs, float32 on CPU; "
                         "the official run uses float32)")
    ap.add_argument("--db", help="the results library: a SQLite file or a postgresql:// URL shared by replicas "
                                 "(default: $VS2_DB or vs2demo.db here)")
    ap.add_argument("--compiled-decode", choices=("on", "off"),
                    help="static cache and compiled decode step (default: $VS2_COMPILED_DECODE, else on for GPUs "
                         "but off on ZeroGPU and CPU); off decodes as the official run does")
    ap.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    ap.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    ap.add_argument("--share", action="store_true", help="create a public gradio.live link")
    ap.add_argument("--mcp", action="store_true",
                    help="also serve the score, compare and rank tools to AI agents over MCP at /gradio_api/mcp/ "
                         "(on a Space: set GRADIO_MCP_SERVER=true)")
    args = ap.parse_args()
    served_evaluator, served, served_library = evaluator, demo, library
    try:  # a bad --db fails here, with its one line, not at the first visitor's run
        if args.db and args.db != library.db.target:
            served_library = Library(args.db)
        served_library.db.ready()
    except StoreError as exc:
        raise SystemExit(f"error: {exc}") from exc
    new_model = (args.model and args.model != evaluator.model_id) or args.dtype or args.compiled_decode
    if new_model or served_library is not library:
        if new_model:
            compiled = compiled_default() if args.compiled_decode is None else args.compiled_decode == "on"
            served_evaluator = Evaluator(args.model or evaluator.model_id, dtype=args.dtype,
                                         limits=evaluator.limits, compiled=compiled)
        served = build_demo(served_evaluator, served_library)
    if ON_ZERO_GPU:
        # ZeroGPU: weights must be placed on "cuda" in the main process, before any GPU call.
        served_evaluator.load()
    elif (first := os.environ.get("VS2_FIRST_EXAMPLE", "1")) != "0":
        # the page opens on the first example's result (and explanation, unless "run") once it is computed
        compute_first_example(served, explained=first != "run")
    served.launch(server_name=args.host, server_port=args.port, share=args.share,
                  **launch_kwargs(served, served_evaluator, mcp=args.mcp))


if __name__ == "__main__":
    main()
