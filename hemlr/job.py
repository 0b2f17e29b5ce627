"""Set-up shared by the workflow's job scripts: threads and the job's log file."""
from __future__ import annotations

import logging
import os
import sys


def start(log_path: str, threads: int) -> logging.Logger:
    """Cap native thread pools at the job's threads and send all output, C libraries'
    included, to the job's log file. Call before importing an HE library."""
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
