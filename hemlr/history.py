"""The results store: every run's rows, kept across runs, commits and machines
(``hemlr history``).

A run's report is overwritten by the next run of its name; the store keeps them all, so a
slowdown can be placed at the commit that brought it. It is a partitioned parquet dataset::

    <store>/machine=<fingerprint>/commit=<git commit>/run=<run>/part-<content hash>.parquet

The machine fingerprint hashes hostname, CPU model and CPU count: times compare only on one
machine. Every file is written whole to a temporary name in its partition, then renamed
(os.replace, atomic on one file system): a reader never sees a torn file, and two appends at
once write different files, so neither loses rows. A file is named by its content, so the
same rows appended twice are stored once. Partition names are for finding files; the rows
carry the same values (and MACHINE), so reading needs no path parsing.

Reads tables only (numpy, pandas, matplotlib, jinja2, hemlr.columns, hemlr.pricing,
hemlr.compare), like the report wing.
"""
from __future__ import annotations

import hashlib
import io
import os
import re
import uuid
from pathlib import Path

import pandas as pd
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from hemlr import columns as col
from hemlr.compare import ACCURACY, SERVER, Pathish, canonical, column, job_name, page, png_uri, trainings

#: where ``hemlr history`` keeps its store unless told otherwise (relative to the working directory)
DEFAULT_STORE = Path(col.HISTORY_STORE)
#: the column holding each row's machine fingerprint
MACHINE = "machine"
#: the columns a fingerprint hashes
FINGERPRINT = ("hostname", "cpu_model", "cpu_count")
#: the column :func:`load` adds: the file a row came from, i.e. which append (one run) it was
STORED_AS = "stored_as"


def fingerprint(hostname: object, cpu_model: object, cpu_count: object) -> str:
    """A short stable name for a machine, whatever the table's types (2 and 2.0 alike); a
    missing value counts as "unknown"."""
    text = "\0".join(canonical(v) or "unknown" for v in (hostname, cpu_model, cpu_count))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _token(value: object) -> str:
    """``value`` as a directory name: characters outside [A-Za-z0-9._+~-] become "-"."""
    return re.sub(r"[^A-Za-z0-9._+~-]+", "-", canonical(value)).strip(".") or "unknown"


def with_machine(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with MACHINE: each row's fingerprint of FINGERPRINT."""
    return df.assign(**{MACHINE: [fingerprint(*v) for v in zip(*(column(df, c) for c in FINGERPRINT))]})


def _write_atomically(directory: Path, data: bytes) -> Path:
    """``data`` as ``directory``/part-<hash of data>.parquet, never visible half-written."""
    final = directory / f"part-{hashlib.sha256(data).hexdigest()[:24]}.parquet"
    temporary = directory / f".tmp-{uuid.uuid4().hex}.parquet"  # unique per writer: no two share one
    try:
        with open(temporary, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())  # the bytes are on disk before the name says the file is complete
        os.replace(temporary, final)
    finally:
        temporary.unlink(missing_ok=True)
    return final


def append(store: Pathish, df: pd.DataFrame) -> list[tuple[Path, int]]:
    """Add the rows of results table ``df`` to ``store``: one file per machine, commit and
    run among them. Returns (file, rows) per file written."""
    rows = with_machine(df)
    keys = [rows[MACHINE], column(rows, "git_commit").map(_token), column(rows, "run").map(_token)]
    written = []
    for (machine, commit, run), part in rows.groupby(keys, sort=False):
        directory = Path(store) / f"machine={machine}" / f"commit={commit}" / f"run={run}"
        directory.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        part.to_parquet(buf, index=False)
        written.append((_write_atomically(directory, buf.getvalue()), len(part)))
    return written


def files(store: Pathish) -> list[Path]:
    """The store's complete files (temporary ones, still being written, left out)."""
    return sorted(Path(store).glob("machine=*/commit=*/run=*/part-*.parquet"))


def load(store: Pathish) -> pd.DataFrame:
    """Every row of the store, each with STORED_AS (its file's name); empty without files."""
    frames = [pd.read_parquet(path).assign(**{STORED_AS: path.stem}) for path in files(store)]
    return pd.concat(frames, ignore_index=True, sort=False) if frames else pd.DataFrame()


# ------------------------------------------------------------------------------- the page


def short_commit(commit: object) -> str:
    text = str(commit)
    return text[:8] + ("+dirty" if text.endswith("+dirty") else "")


def samples(df: pd.DataFrame) -> pd.DataFrame:
    """One row per training in the store (rows of :func:`load`): its machine, commit, stored
    run, job, when it ended (its rows' last timestamp), server seconds per iteration and final
    test accuracy (hemlr.compare.trainings: the numbers ``hemlr compare`` compares)."""
    df = df.assign(_when=pd.to_datetime(column(df, "timestamp"), utc=True, format="ISO8601", errors="coerce"))
    records = []
    for (machine, commit, stored, *job), rows in df.groupby([MACHINE, column(df, "git_commit").fillna("unknown"),
                                                              STORED_AS, *col.JOB], sort=False):
        first = rows.iloc[0]
        cpus = canonical(first.get("cpu_count")) or "?"
        about = {"machine": machine, "hostname": str(first.get("hostname", "unknown")),
                 "cpu": f"{first.get('cpu_model', 'unknown')}, {cpus} logical CPUs", "commit": commit,
                 "run": str(first.get("run", "-")), "stored_as": stored, "job": job_name(*job),
                 "when": rows["_when"].max()}
        records += [{**about, "server": t[SERVER], "accuracy": t[ACCURACY]} for _, t in trainings(rows).iterrows()]
    return pd.DataFrame(records)


def runs_table(s: pd.DataFrame) -> list[list[str]]:
    """The runs over time per job (workload / backend on dataset), oldest first: when each
    ended, its run, machine and commit, its trainings, their median server seconds per
    iteration and final accuracy; the header first."""
    runs = s.groupby(["job", "stored_as"], sort=False).agg(
        when=("when", "max"), run=("run", "first"), hostname=("hostname", "first"), machine=("machine", "first"),
        commit=("commit", "first"), n=("server", "size"), server=("server", "median"),
        accuracy=("accuracy", "median")).reset_index().sort_values(["job", "when"], na_position="first")
    header = ["job", "ended (UTC)", "run", "machine", "commit", "trainings", SERVER, ACCURACY]
    return [header] + [[r.job, "-" if pd.isna(r.when) else r.when.strftime("%Y-%m-%d %H:%M"), r.run,
                        f"{r.hostname} ({r.machine})", short_commit(r.commit), str(r.n),
                        "-" if pd.isna(r.server) else f"{r.server:.3g}",
                        "-" if pd.isna(r.accuracy) else f"{r.accuracy:.4f}"] for r in runs.itertuples()]


def machine_figure(s: pd.DataFrame) -> Figure:
    """One machine's server seconds per iteration against commit (oldest first, by when each
    first ran there), one line per job through its medians, each training a dot."""
    order = s.groupby("commit")["when"].min().sort_values(na_position="first").index
    x = {commit: i for i, commit in enumerate(order)}
    fig = Figure(figsize=(max(6.5, 0.9 * len(order) + 3), 4.5), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    cmap = colormaps["tab10" if s["job"].nunique() <= 10 else "tab20"]
    for i, (job, g) in enumerate(s.groupby("job", sort=True)):
        color = cmap(i % cmap.N)
        ax.scatter(g["commit"].map(x), g["server"], color=color, alpha=0.35, s=14)
        medians = g.groupby("commit")["server"].median()
        medians = medians.reindex([c for c in order if c in medians.index])
        ax.plot([x[c] for c in medians.index], medians.to_numpy(), marker="o", color=color, label=job)
    ax.set_xticks(range(len(order)), [short_commit(c) for c in order], rotation=30, ha="right")
    ax.set_yscale("log")
    ax.set(xlabel="git commit (in the order they first ran here)", ylabel=SERVER)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small")
    return fig


def render(store: Pathish) -> str:
    """The store's index page: its runs over time per job, and per machine the server time
    against commit. ValueError when the store holds nothing."""
    df = load(store)
    if df.empty:
        raise ValueError(f"{store}: no results stored (hemlr history append RUN first)")
    s = samples(df)
    machines = []
    for machine, g in sorted(s.groupby("machine"), key=lambda pair: pair[1]["hostname"].iloc[0]):
        timed = g[g["server"] > 0]
        machines.append({"fingerprint": machine, "hostname": g["hostname"].iloc[0], "cpu": g["cpu"].iloc[0],
                         "figure": png_uri(machine_figure(timed)) if len(timed) else None})
    return page("history.html.j2", store=str(store), rows=len(df), stored=df[STORED_AS].nunique(),
                commits=s["commit"].nunique(), machines=machines, runs=runs_table(s))
