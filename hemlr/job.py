"""Set-up shared by the workflow's job scripts: threads, the job's log file, dying with the
workflow, outputs written atomically and failures logged with what the job was doing."""
from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
# Frames in these directories are the project's own code: the innermost one says what ran.
_PROJECT_DIRS = tuple(str(Path(__file__).resolve().parents[1] / pkg) + os.sep for pkg in ("hemlr", "backends"))


def _die_with_parent() -> None:
    """Have the kernel SIGKILL this process when its parent dies.

    Snakemake starts a script as ``bash -c '...; python script'`` and bash execs the last
    command, so the parent is the snakemake process (the cluster job's own snakemake on
    SLURM): a SIGKILLed workflow cannot leave a job behind that still writes its outputs.
    """
    parent = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    # A parent that died just before prctl sends no signal: we were handed to init already.
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGKILL)


def start(log_path: str, threads: int) -> logging.Logger:
    """Make the job die with the workflow, cap native thread pools at the job's threads and
    send all output, C libraries' included, to the job's log file. Call before importing an
    HE library."""
    _die_with_parent()
    # Forked workers (parallel_map) die with the job; a fork's child does not inherit the setting.
    os.register_at_fork(after_in_child=_die_with_parent)
    # Read by OpenMP (OpenFHE) and torch when they start their pools: set before importing them.
    os.environ["OMP_NUM_THREADS"] = str(threads)
    sys.stdout.flush()
    sys.stderr.flush()
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    return logging.getLogger("hemlr.workflow")


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[str]:
    """A temporary path beside ``path`` (same suffix) for the block to write; it replaces
    ``path`` only when the block succeeds, so no reader ever sees a partial output and a
    killed job leaves none behind."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp{target.suffix}")
    try:
        yield str(tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _where(exc: BaseException) -> str:
    """The innermost frame of the project's code that the exception passed through (or the
    job script's own line): what was running when it was raised."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename != __file__
              and not f.filename.startswith(os.path.dirname(contextlib.__file__) + os.sep)]
    if not frames:
        return "unknown"
    frame = next((f for f in reversed(frames) if f.filename.startswith(_PROJECT_DIRS)), frames[0])
    root = Path(_PROJECT_DIRS[0]).parent
    name = Path(frame.filename)
    shown = name.relative_to(root) if name.is_relative_to(root) else name.name
    return f"{shown}:{frame.lineno} {frame.name}(): `{frame.line}`"


@contextlib.contextmanager
def logged_failure(log: logging.Logger, stage: str, **context: object) -> Iterator[None]:
    """Log an exception escaping the block with the job's ``context`` (e.g. the backend and
    its parameters) and the phase (``stage`` and the code that ran), then re-raise it: a
    library's own message rarely says which job or parameter set it came from."""
    try:
        yield
    except Exception as exc:
        about = "".join(f"\n  {key}: {value}" for key, value in context.items())
        log.error("%s job failed: %s: %s%s\n  phase: %s, in %s", stage, type(exc).__name__, exc, about,
                  stage, _where(exc))
        raise
