"""Scoring many rows on Ray Data: one model replica per GPU (or per share of the CPUs), on a laptop, a multi-GPU box
or a Ray cluster, with results streamed back to the driver, which writes them (``batch.write_outcomes``).

``import ray`` happens only here and only when ``--ray`` is given, so the app and the plain CLI never need Ray.
What Ray Data gets wrong by default for this job, and what this module does instead:

- the CSV is read by the driver as text (``batch.read_rows``): Ray's CSV reader turns "42" into a number and
  "NA"/"null"/"" into nulls, and its read tasks need a CPU that the replicas already hold (the job hangs);
- each row travels as one JSON string in its own block, so a crashed worker loses only that row (a block is the
  unit Ray Data fails or skips) and no value is reinterpreted by Arrow;
- a replica builds its ``Evaluator`` itself from plain arguments (the evaluator holds locks: it cannot be pickled),
  and is given the environment variables and the package explicitly (workers see the environment as it was when
  Ray started);
- retries are bounded: Ray Data's defaults retry a task that kills its worker without limit. A row whose worker
  dies on every try becomes an error record at the end, and the failed block is skipped instead of stopping the
  job (``max_errored_blocks``); the driver then checks every input row has a line.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from vs2demo.batch.jobs import JobRow, error_record, score_row
from vs2demo.core.errors import ModelLoadError, VS2Error
from vs2demo.core.options import GenerationOptions, Limits, compiled_decode_from_env, dtype_from_env, model_from_env

log = logging.getLogger(__name__)

LOCAL = "local"  # --ray without an address: start a local Ray (unless RAY_ADDRESS names a cluster)
DEFAULT_ATTEMPTS = 3
# what replicas need from the driver's environment (smoke model folder, limits, offline hub, caches)
ENV_PREFIXES = ("VS2_", "HF_HUB_OFFLINE", "HF_HOME", "HF_HUB_CACHE", "TRANSFORMERS_OFFLINE", "TOKENIZERS_PARALLELISM")
# Test-only: a replica given a row whose video file is named this exits at once (os._exit), as a segfault or the
# kernel's OOM killer would end it, after appending its pid to VIDEO.crashes (one line per try). It is read only in
# replicas and passed on only when the driver has it set; nothing else uses it.
CRASH_HOOK = "VS2_TEST_CRASH_VIDEO"


class RayError(VS2Error):
    """Ray is missing or unreachable: one line saying what to do."""


@dataclass(frozen=True)
class Placement:
    """How many replicas, and what each one asks Ray for."""

    replicas: int
    num_gpus: float
    num_cpus: float
    threads: int | None  # torch threads per CPU replica (its share of the cores); None on GPUs


@dataclass(frozen=True)
class ReplicaConfig:
    """Everything a replica builds its evaluator from: plain, picklable values resolved in the driver."""

    model: str
    dtype: str | None
    limits: Limits
    options: GenerationOptions
    attempts: int
    threads: int | None
    compiled: bool | None = None  # static cache + compiled decode (None: $VS2_COMPILED_DECODE, else per device)


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ray", nargs="?", const=LOCAL, metavar="ADDRESS",
                        help="spread the rows over model replicas on Ray: a local Ray, or the cluster at ADDRESS "
                             "(or $RAY_ADDRESS); needs pip install -r requirements-ray.txt")
    parser.add_argument("--replicas", type=int, help="model replicas with --ray (default: one per GPU; on CPU, 1)")
    parser.add_argument("--attempts", type=int, default=DEFAULT_ATTEMPTS,
                        help=f"tries per row with --ray before it is written as an error (default {DEFAULT_ATTEMPTS})")


def config_from(args: argparse.Namespace, options: GenerationOptions) -> ReplicaConfig:
    if args.attempts < 1:
        raise ValueError(f"--attempts must be 1 or more, got {args.attempts}")
    if args.replicas is not None and args.replicas < 1:
        raise ValueError(f"--replicas must be 1 or more, got {args.replicas}")
    import_ray()  # a missing Ray is one error line before any work starts
    compiled = getattr(args, "compiled_decode", None)
    return ReplicaConfig(model_from_env(args.model), dtype_from_env(args.dtype), Limits.from_env(), options,
                         args.attempts, None, compiled_decode_from_env(None if compiled is None else compiled == "on"))


def import_ray():
    try:
        import ray
    except ImportError as exc:
        raise RayError("--ray needs Ray, which is not installed: pip install -r requirements-ray.txt") from exc
    return ray


def placement(resources: dict[str, float], replicas: int | None) -> Placement:
    """One replica per GPU by default (several share a GPU when more are asked for); on CPU one replica unless
    asked, each holding an equal share of the cores and running that many torch threads."""
    gpus, cpus = resources.get("GPU", 0.0), resources.get("CPU", 1.0)
    if gpus >= 1:
        n = replicas or int(gpus)
        return Placement(n, min(1.0, gpus / n), 1.0, None)
    n = replicas or 1
    share = cpus / n
    return Placement(n, 0.0, share, max(1, int(share)))


def worker_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIXES) or k == CRASH_HOOK}


def job_runtime_env() -> dict:
    """The package itself, uploaded for every worker of the job (a cluster's nodes need not have it installed);
    Ray accepts a local folder only at the job level, in ``ray.init``."""
    return {"py_modules": [str(Path(__file__).resolve().parents[1])], "excludes": ["__pycache__"]}  # the package


class Replica:
    """One model replica (a Ray Data actor): scores one row per call and never raises for a row."""

    def __init__(self, config: ReplicaConfig) -> None:
        from vs2demo.engine.evaluator import Evaluator

        if config.threads is not None:
            import torch

            torch.set_num_threads(config.threads)  # its share of the cores, whatever OMP_NUM_THREADS Ray set
        self.config = config
        self.evaluator = Evaluator(config.model, dtype=config.dtype, limits=config.limits,  # loads on first row
                                   compiled=config.compiled)

    def __call__(self, item: dict) -> dict:
        row = JobRow(*json.loads(item["row"]))
        crash = os.environ.get(CRASH_HOOK)
        if crash and row.video and Path(row.video).name == crash:  # test-only (see CRASH_HOOK)
            with open(f"{row.video}.crashes", "a") as tries:  # so a test can count the tries
                tries.write(f"{os.getpid()}\n")
            os._exit(70)  # the worker process dies mid-row
        try:
            record, problem = score_row(self.evaluator, row, self.config.options, self.config.attempts)
        except ModelLoadError as exc:  # nothing can be scored: the driver stops with this message
            return {"index": item["index"], "record": "", "problem": "", "fatal": str(exc)}
        except Exception as exc:  # a bug or a library error on this row: an error record, the replica goes on
            log.exception("row %s failed", row.line)
            problem = f"{type(exc).__name__}: {exc}"
            record = error_record(row, problem)
        return {"index": item["index"], "record": json.dumps(record, ensure_ascii=False), "problem": problem or "",
                "fatal": ""}


def score_rows(rows: Sequence[JobRow], address: str, replicas: int | None, config: ReplicaConfig
               ) -> Iterator[tuple[JobRow, dict, str | None]]:
    """(row, record, problem) for every row, in the order they finish, then the rows whose worker died on every
    try as error records. Starts a local Ray when none is running and no address is given, and stops it after."""
    if not rows:
        return
    ray = import_ray()
    started = connect(ray, address)
    try:
        yield from _run(ray, rows, replicas, config)
    finally:
        if started:
            ray.shutdown()  # stops the workers and the local Ray processes this driver started


def connect(ray, address: str) -> bool:
    """Use the Ray this process already runs (tests share one; it must have ``job_runtime_env()``), else join
    ADDRESS or $RAY_ADDRESS, else start a local one. True when this call started or joined it (and should shut it
    down)."""
    if ray.is_initialized():
        return False
    target = None if address == LOCAL else address
    debug = log.isEnabledFor(logging.DEBUG)
    logging.getLogger("ray").setLevel(logging.INFO if debug else logging.ERROR)
    logging.getLogger("ray.data").setLevel(logging.INFO if debug else logging.CRITICAL)  # we report row errors
    try:
        ray.init(address=target, include_dashboard=False, log_to_driver=debug, configure_logging=False,
                 runtime_env=job_runtime_env())
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = target or os.environ.get("RAY_ADDRESS") or "a local Ray"
        raise RayError(f"cannot start or reach Ray at {where}: {str(exc).strip().splitlines()[0][:200]}") from exc
    return True


def _run(ray, rows: Sequence[JobRow], replicas: int | None, config: ReplicaConfig
         ) -> Iterator[tuple[JobRow, dict, str | None]]:
    from dataclasses import replace

    from ray.data import ActorPoolStrategy, DataContext

    ctx = DataContext.get_current()
    ctx.max_errored_blocks = -1  # a row whose worker died on every try is skipped here and recorded below
    ctx.enable_progress_bars = False  # the driver draws one bar over all rows
    ctx.print_on_execution_start = False
    place = placement(ray.cluster_resources(), replicas)
    config = replace(config, threads=place.threads)
    items = [{"index": i, "row": json.dumps([r.line, r.video, r.prompt])} for i, r in enumerate(rows)]
    with warnings.catch_warnings():
        # Ray 2.60 has no named parameter for the actor's restarts and task retries (requirements-ray.txt pins it)
        warnings.simplefilter("ignore", DeprecationWarning)
        dataset = ray.data.from_items(items, override_num_blocks=len(items)).map(
            Replica, fn_constructor_kwargs={"config": config},
            # one row in flight per replica: a crash then takes down only the row that caused it
            compute=ActorPoolStrategy(size=place.replicas, max_tasks_in_flight_per_actor=1),
            num_cpus=place.num_cpus, num_gpus=place.num_gpus or None,
            # a dead replica is restarted (the pool keeps its size); its row is tried again at most attempts - 1
            # times (Ray Data's default is without limit)
            max_restarts=-1, max_task_retries=config.attempts - 1,
            runtime_env={"env_vars": worker_env()})
    seen: set[int] = set()
    for out in dataset.iter_rows():
        if out["fatal"]:
            raise ModelLoadError(out["fatal"])
        seen.add(out["index"])
        yield rows[out["index"]], json.loads(out["record"]), out["problem"] or None
    for i, row in enumerate(rows):
        if i not in seen:
            problem = (f"the Ray worker scoring this row died on each of {config.attempts} tries (a crash, or the "
                       "process ran out of memory); the other rows went on")
            yield row, error_record(row, problem), problem
