"""The run's report: the training jobs' tidy tables merged, summarised side by side with their
warnings, and plotted (summary.md and the PNGs here; hemlr.html_report builds report.html from
the same functions).

Input: one table per training job (hemlr.experiment.run_experiment, columns as in
hemlr.columns), one row per repeat x iteration, plus Snakemake's benchmark of that job, and the data
stage's manifest of each dataset.
"""
from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from . import columns as col
from . import costmodel
from .columns import JOB, OP_LABELS, REPEAT

#: the cubic sigmoid's design range: the paper fits it to the logistic on [-8, 8]
SIGMOID_RANGE = 8.0
#: CPU share used by other processes (sampled by the job while idle) that makes its times suspect
BUSY_PCT = 25.0

Pathish = str | PathLike


# ------------------------------------------------------------------------------------- merge


def _arrow_safe(df: pd.DataFrame) -> pd.DataFrame:
    """Give every mixed object column one type: jobs of different libraries disagree (e.g.
    scale_bits 40 in one table, None in another) and Arrow refuses mixed columns."""
    for name in df.columns[df.dtypes == object]:
        values = df[name].dropna()
        if values.empty:
            continue
        if all(isinstance(v, numbers.Number) and not isinstance(v, bool) for v in values):
            df[name] = pd.to_numeric(df[name])
        elif values.map(type).nunique() > 1:
            df[name] = df[name].where(df[name].isna(), df[name].astype(str))
    return df


def merge_tables(paths: Sequence[Pathish], benchmark_paths: Sequence[Pathish]) -> pd.DataFrame:
    """All training tables in one, each row with its job's benchmark: job_wall_s,
    job_max_rss_mb and job_cpu_s (benchmark_paths[i] belongs to paths[i])."""
    paths, benchmark_paths = list(paths), list(benchmark_paths)
    if len(paths) != len(benchmark_paths):
        raise ValueError(f"{len(paths)} tables but {len(benchmark_paths)} benchmark files")
    if not paths:
        raise ValueError("no training tables to merge")
    frames = []
    for table, bench in zip(paths, benchmark_paths):
        b = pd.read_csv(bench, sep="\t")
        # Several rows when Snakemake repeats a benchmark: report their mean.
        job = {name: pd.to_numeric(b[col], errors="coerce").mean()
               for name, col in (("job_wall_s", "s"), ("job_max_rss_mb", "max_rss"), ("job_cpu_s", "cpu_time"))}
        frames.append(pd.read_parquet(table).assign(**job))
    return _arrow_safe(pd.concat(frames, ignore_index=True, sort=False))


# ----------------------------------------------------------------------------------- helpers


def _col(df: pd.DataFrame, name: str) -> pd.Series:
    return df[name] if name in df else pd.Series(np.nan, index=df.index, dtype=float)


def _simulated(mode: object) -> bool:
    return str(mode) == "simulated"


def _insecure(last: pd.Series) -> bool:
    """No stated security level on parameters that are meant to protect something."""
    return pd.isna(last.get("security_bits")) and str(last.get("mode")) != "exact"


def _mode(last: pd.Series) -> str:
    """What ran, as a reader must know it: simulated, exact, encrypted, or interactive."""
    if _simulated(last.get("mode")):
        return "SIMULATED (not encrypted)"
    refresh = last.get("refresh")
    if refresh == "client":
        return f"interactive (client refresh every {_num(last.get('refresh_every'), '.0f')} iterations)"
    if refresh == "bootstrap":
        return f"{last.get('mode')}, non-interactive ({_num(last.get('refreshes_planned'), '.0f')} bootstraps)"
    return str(last.get("mode", "-"))


def _under_load(job: pd.DataFrame) -> bool:
    busy = [_col(job, f"cpu_busy_pct_{when}") for when in ("before", "after")]
    return bool(any((b > BUSY_PCT).any() for b in busy))


def _failed(job: pd.DataFrame) -> bool:
    return "failed" in job and bool(job["failed"].eq(True).any())


def _accuracy_varies(job: pd.DataFrame) -> bool:
    """Whether the train or test accuracy of some iteration differs between the job's repeats."""
    return bool((job.groupby("iteration")[["train_accuracy", "test_accuracy"]].nunique() > 1).any().any())


def _marks(job: pd.DataFrame) -> list[str]:
    last = job.iloc[-1]
    return [mark for mark, on in (("FAILED", _failed(job)), ("SIMULATED", _simulated(last.get("mode"))),
                                  ("INSECURE", _insecure(last))) if on]


def job_label(backend: str, job: pd.DataFrame) -> str:
    """The backend's name with its warnings, e.g. ``concrete-sim [SIMULATED]``."""
    return " ".join([backend, *(f"[{mark}]" for mark in _marks(job))])


def _phases_in(df: pd.DataFrame) -> list[str]:
    return [p for p in col.PHASES if col.wall(p) in df]


def _first_repeat(df: pd.DataFrame) -> pd.DataFrame:
    # tables from before repeats have no repeat column: they trained once
    return df[_col(df, REPEAT).fillna(0).eq(0)]


def _repeats(job: pd.DataFrame) -> int:
    """How many times the job trained, each time from fresh keys."""
    return max(1, _col(job, REPEAT).nunique())


def _jobs(df: pd.DataFrame, every_repeat: bool = False) -> list[tuple[tuple[str, str], pd.DataFrame]]:
    """(dataset, backend) groups in table order, rows sorted by repeat and iteration; only the
    first repeat's rows unless ``every_repeat`` (the side-by-side tables and the plots show one
    training; the repeats table and the warnings see them all)."""
    rows = df if every_repeat else _first_repeat(df)
    order = [REPEAT, "iteration"] if REPEAT in rows else ["iteration"]
    return [(key, g.sort_values(order)) for key, g in rows.groupby(JOB, sort=False)]


def _distinct(df: pd.DataFrame, col: str) -> str:
    values = [str(v) for v in dict.fromkeys(_col(df, col).dropna()) if str(v) != ""]
    return ", ".join(values) if values else "unknown"


def _num(value: object, fmt: str = ".4g") -> str:
    if value is None or pd.isna(value):
        return "-"
    return format(value, fmt) if isinstance(value, numbers.Number) else str(value)


def _bytes(n: object) -> str:
    if n is None or pd.isna(n):
        return "-"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n:.0f} B"


def _total(job: pd.DataFrame, col: str) -> float:
    return float(job[col].sum()) if col in job and job[col].notna().any() else np.nan


def _suffixes(df: pd.DataFrame, prefix: str) -> list[str]:
    """What follows ``prefix`` in the table's column names, in column order."""
    return [c[len(prefix):] for c in df.columns if c.startswith(prefix)]


# ---------------------------------------------------------------------------------- warnings


@dataclass(frozen=True)
class Flag:
    """A warning of the report: its label, the jobs it concerns (none: the whole dataset), why."""

    label: str
    jobs: tuple[str, ...]
    text: str


def dataset_flags(rows: pd.DataFrame) -> list[Flag]:
    """The warnings of one dataset's rows: not the paper's data, and FAILED, SIMULATED and
    INSECURE jobs."""
    first = rows.iloc[0]
    flags = []
    if not bool(first.get("paper_data", False)):
        note = str(first.get("dataset_note", "") or "no description")
        flags.append(Flag("NOT THE PAPER'S DATA", (), (
            f"{note}. The paper trains on the first 128 MNIST training images through RegNet-X-400MF "
            "(400 features) and tests on all 10,000 MNIST test images: these numbers do not reproduce it.")))
    jobs = _jobs(rows, every_repeat=True)
    for label, test, text in (
        ("FAILED", _failed, "drifted from the exact reference beyond the run's tolerance (max |W - "
         "W_oracle| / max |W_oracle|, column rel_w_diff_oracle): their accuracies are not the "
         "algorithm's."),
        ("SIMULATED, NOT ENCRYPTED", lambda job: _simulated(job.iloc[-1].get("mode")),
         "ran in simulation mode: nothing was encrypted, so their times and sizes are not those of "
         "encrypted training."),
        ("MEASURED UNDER LOAD", _under_load,
         f"found other processes using more than {BUSY_PCT:g}% of the CPUs just before or just after "
         "training (columns cpu_busy_pct_before/after): their times are not those of an idle "
         "machine; rerun them alone to compare."),
        ("INSECURE", lambda job: _insecure(job.iloc[-1]),
         "state no security level (security_bits null) although their mode is not exact: their "
         "parameters protect nothing, their times are not those of secure parameters."),
        ("ACCURACY VARIES ACROSS REPEATS", _accuracy_varies,
         "trained more than once and their train or test accuracy differs between repeats at some "
         "iteration (the repeats table gives the spread of the final test accuracy): CKKS noise is "
         "fresh in every repeat, so predictions whose scores tie within it can flip, and a "
         "simulation draws its own errors; the exact algorithm's accuracies never differ."),
    ):
        names = tuple(backend for (_, backend), job in jobs if test(job))
        if names:
            flags.append(Flag(label, names, text))
    scores = _col(rows, "oracle_max_abs_score")
    if (scores > SIGMOID_RANGE).any():
        first_out = int(rows.loc[scores > SIGMOID_RANGE, "iteration"].min())
        flags.append(Flag("NOTE", (), (
            f"from iteration {first_out} the exact algorithm's scores |S| leave the cubic "
            f"sigmoid's design range [-{SIGMOID_RANGE:g}, {SIGMOID_RANGE:g}]: past it the cubic no "
            "longer approximates the logistic, so later iterations follow the cubic, not logistic "
            "regression.")))
    return flags


# ----------------------------------------------------------------------------------- summary


def _security(last: pd.Series) -> str:
    text = str(last.get("security")) if pd.notna(last.get("security")) else "-"
    bits = _num(last.get("security_bits"), ".0f")
    return f"{text} ({bits}-bit)" if bits != "-" and bits not in text else text


def _params(last: pd.Series) -> str:
    shape = ", ".join(f"{k} {_num(last[k], '.0f')}" for k in ("ring_dim", "slots", "depth", "scale_bits")
                      if pd.notna(last.get(k)))
    extra = last.get("params")
    return "; ".join(s for s in (shape, str(extra) if pd.notna(extra) and extra else "") if s) or "-"


def _count_and_bytes(cts: str, size: str) -> Callable[[pd.DataFrame, pd.Series], str]:
    return lambda j, last: f"{_num(_total(j, cts), '.0f')} / {_bytes(_total(j, size))}"


#: a row of a side-by-side table: its label, and its value for one job (the job's rows
#: sorted by iteration, and its final row)
Metric = tuple[str, Callable[[pd.DataFrame, pd.Series], str]]


def metric_groups(df: pd.DataFrame) -> dict[str, list[Metric]]:
    """The rows of the side-by-side tables, in groups; rows for the upload parts, key kinds,
    phases and setup operations that occur in ``df``."""
    return {
        "Overview": [
            ("library", lambda j, last: str(last.get("library", "-"))),
            ("algorithm", lambda j, last: str(last.get("algorithm", "-"))),
            ("mode", lambda j, last: _mode(last)),
            ("security", lambda j, last: _security(last)),
            ("parameters", lambda j, last: _params(last)),
            ("iterations", lambda j, last: _num(last.get("iteration"), ".0f")),
            ("test accuracy (final)", lambda j, last: _num(last.get("test_accuracy"), ".4f")),
            ("train accuracy (final)", lambda j, last: _num(last.get("train_accuracy"), ".4f")),
            ("SLE loss (final)", lambda j, last: _num(last.get("sle_loss"))),
            ("BCE loss per sample, train / test (final)",
             lambda j, last: f"{_num(last.get('bce_loss'))} / {_num(last.get('test_bce_loss'))}"),
            ("max abs(W - oracle W) (final)", lambda j, last: _num(last.get("max_abs_w_diff_oracle"), ".3g")),
        ],
        "Time and memory": [
            ("server time / iteration (s)", lambda j, last: _num(_col(j, col.wall("iteration")).mean(), ".3g")),
            ("server CPU / iteration (s)", lambda j, last: _num(_col(j, col.cpu("iteration")).mean(), ".3g")),
            *[(f"{phase}: wall s, total", lambda j, last, c=col.wall(phase): _num(_total(j, c), ".3g"))
              for phase in _phases_in(df)],
            ("refreshes (bootstraps or client round trips)", lambda j, last: _num(_total(j, "refreshes"), ".0f")),
            ("levels left after the last iteration", lambda j, last: _num(last.get("levels_left"), ".0f")),
            ("peak RSS (MB)", lambda j, last: _num(_col(j, "peak_rss_mb").max(), ".0f")),
            ("job wall / CPU (s)",
             lambda j, last: f"{_num(last.get('job_wall_s'), '.3g')} / {_num(last.get('job_cpu_s'), '.3g')}"),
            ("job max RSS (MB)", lambda j, last: _num(last.get("job_max_rss_mb"), ".0f")),
        ],
        "Upload, download and keys": [
            ("upload (ciphertexts / bytes)", _count_and_bytes("upload_cts", "upload_bytes")),
            *[(f"upload {part} (ciphertexts / bytes)", _count_and_bytes(col.upload_cts(part), col.upload_bytes(part)))
              for part in _suffixes(df, col.upload_cts(""))],
            ("download (ciphertexts / bytes)", _count_and_bytes("download_cts", "download_bytes")),
            ("evaluation keys", lambda j, last: _bytes(_total(j, "evalkey_bytes"))),
            *[(f"key {kind.replace('_', ' ')}", lambda j, last, c=col.key_bytes(kind): _bytes(_total(j, c)))
              for kind in _suffixes(df, col.key_bytes(""))],
        ],
        "Operations": [
            *[(f"{name} / iteration", lambda j, last, c=kind: _num(_col(j, c).mean(), ".4g"))
              for kind, name in OP_LABELS.items()],
            *[(f"{name} in the server's setup", lambda j, last, c=col.setup_op(kind): _num(_total(j, c), ".0f"))
              for kind, name in OP_LABELS.items() if col.setup_op(kind) in df],
        ],
    }


def side_by_side(rows: pd.DataFrame, metrics: Sequence[Metric]) -> pd.DataFrame:
    """Metrics down, backends across (labelled with their warnings), for one dataset."""
    columns = {job_label(backend, job): [fn(job, job.iloc[-1]) for _, fn in metrics]
               for (_, backend), job in _jobs(rows)}
    table = pd.DataFrame(columns, index=[name for name, _ in metrics])
    table.index.name = "metric"
    return table


def accuracy_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Test accuracy per iteration (down) and backend (across), for one dataset."""
    table = pd.DataFrame({job_label(backend, job): job.set_index("iteration")["test_accuracy"]
                          for (_, backend), job in _jobs(rows)})
    table.index.name = "iteration"
    return table.sort_index().apply(lambda c: c.map(lambda v: _num(v, ".4f")))


def sample_statistics(samples: pd.Series) -> dict[str, float]:
    """n, median, min, max and interquartile range (pandas' linear quantiles) of ``samples``,
    missing values left out."""
    d = samples.astype(float).describe()
    return {"n": d["count"], "median": d["50%"], "min": d["min"], "max": d["max"], "IQR": d["75%"] - d["25%"]}


def repeat_samples(job: pd.DataFrame) -> list[tuple[str, str, pd.Series]]:
    """One value per repeat of ``job`` (all its rows), as (quantity, number format, values):
    each phase's wall seconds summed over the repeat's iterations (phases never timed left
    out), the weight error max |W - W_oracle| / max |W_oracle| at the repeat's worst iteration
    (the paper's algorithm only) and the final test accuracy (when there is a test set)."""
    by = job.groupby(REPEAT)
    samples = [(f"{phase}: wall s", ".3g", by[col.wall(phase)].sum())
               for phase in _phases_in(job) if job[col.wall(phase)].fillna(0).any()]
    samples += [("max abs(W - oracle W) / max abs(oracle W)", ".3g", by["rel_w_diff_oracle"].max()),
                ("test accuracy (final)", ".4f", by["test_accuracy"].last())]
    return [(quantity, fmt, values) for quantity, fmt, values in samples if values.notna().any()]


REPEATS_NOTE = ("Jobs trained more than once (`repeats`): each repeat is a whole training from fresh keys, "
                "one after the other in the same job, and one sample here. Every repeat counts, the first "
                "included: none is set apart as warm-up (the side-by-side table shows the first repeat, to "
                "compare). A phase's sample is its wall seconds in one repeat, summed over the repeat's "
                "iterations; the weight error's is the repeat's worst iteration. IQR: 75th minus 25th "
                "percentile (linear interpolation).")


def repeats_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Per job of one dataset that trained more than once, per quantity of repeat_samples: n,
    median, min, max and IQR over its repeats; empty when no job repeated."""
    records = [{"job": job_label(backend, job), "quantity": quantity,
                **{k: _num(v, ".0f" if k == "n" else fmt) for k, v in sample_statistics(values).items()}}
               for (_, backend), job in _jobs(rows, every_repeat=True) if _repeats(job) > 1
               for quantity, fmt, values in repeat_samples(job)]
    return pd.DataFrame(records, columns=["job", "quantity", "n", "median", "min", "max", "IQR"]).set_index("job")


def run_name(df: pd.DataFrame) -> str:
    return _distinct(df, "run")


def _time_span(df: pd.DataFrame) -> str:
    stamps = _col(df, "timestamp").dropna().astype(str).sort_values()
    return "unknown" if stamps.empty else f"{stamps.iloc[0]} to {stamps.iloc[-1]}"


def provenance_items(df: pd.DataFrame) -> list[tuple[str, str]]:
    """What produced the numbers: machine, software, code and time, as (label, value)."""
    versions = "; ".join(f"{lib}: {_distinct(g, 'library_version')}" for lib, g in df.groupby("library", sort=False))
    return [
        ("Machine", f"{_distinct(df, 'hostname')} ({_distinct(df, 'platform')})"),
        ("CPU", f"{_distinct(df, 'cpu_model')}; {_distinct(df, 'cpu_count')} logical CPUs; "
                f"OMP_NUM_THREADS {_distinct(df, 'omp_num_threads')}; library workers {_distinct(df, 'workers')}"),
        ("Python", f"Python {_distinct(df, 'python')}; numpy {_distinct(df, 'numpy_version')}; "
                   f"hemlr {_distinct(df, 'hemlr_version')}"),
        ("Libraries", versions),
        ("Git commit", _distinct(df, "git_commit")),
        ("Run at", _time_span(df)),
    ]


def _trainings(job: pd.DataFrame) -> str:
    repeats = _repeats(job)
    return f"{len(_first_repeat(job))} iterations" + (f" x {repeats} repeats" if repeats > 1 else "")


def jobs_line(df: pd.DataFrame) -> str:
    jobs = _jobs(df, every_repeat=True)
    return (f"{len(jobs)} training job(s): "
            + ", ".join(f"`{b}` on `{d}` ({_trainings(g)})" for (d, b), g in jobs) + ".")


def dataset_line(rows: pd.DataFrame) -> str:
    first = rows.iloc[0]
    return (f"Source `{first.get('dataset_source', '?')}`: {_num(first.get('n_train'), '.0f')} training / "
            f"{_num(first.get('n_test'), '.0f')} test examples, {_num(first.get('n_features'), '.0f')} features, "
            f"{_num(first.get('n_classes'), '.0f')} classes.")


NOTES = ("Times are wall seconds on the machine above (expect +-40% between runs). Totals are sums over "
         "a job's iteration rows, one-off costs counted in the first iteration. Job wall / CPU / RSS come "
         "from Snakemake's benchmark of the whole job (start-up and evaluation included). Mode `exact` is "
         "the plaintext reference without any cryptography; `[SIMULATED]` marks runs that encrypted "
         "nothing, `[INSECURE]` runs without a security level, `[FAILED]` jobs that failed. A job trained "
         "more than once (`repeats`) shows its first repeat in the side-by-side and accuracy tables and "
         "in the plots; its repeats table gives the statistics over all of them.")


def _markdown_flag(flag: Flag) -> str:
    jobs = f"{', '.join(f'`{j}`' for j in flag.jobs)} " if flag.jobs else ""
    return f"> **WARNING: {flag.label}:** {jobs}{flag.text}"


def _markdown(table: pd.DataFrame) -> str:
    return table.apply(lambda c: c.str.replace("|", r"\|", regex=False)).to_markdown()


def _dataset_section(dataset: str, rows: pd.DataFrame, manifest: Mapping | None) -> list[str]:
    first = rows.iloc[0]
    lines = ["", f"## Dataset `{dataset}`", "", dataset_line(rows)]
    if bool(first.get("paper_data", False)):
        lines += ["", f"The paper's data: {first.get('dataset_note', '')}"]
    inputs = list((manifest or {}).get("inputs", []))
    if inputs:  # the data stage's own markdown lines
        lines += ["", "Inputs:", *inputs]
    lines += [line for flag in dataset_flags(rows) for line in ("", _markdown_flag(flag))]
    metrics = [m for group in metric_groups(rows).values() for m in group]
    lines += ["", _markdown(side_by_side(rows, metrics)), ""]
    repeats = repeats_table(rows)
    if not repeats.empty:
        lines += ["### Repeats", "", REPEATS_NOTE, "", _markdown(repeats), ""]
    return lines


def grid_sections(df: pd.DataFrame) -> list[str]:
    """summary.md's grids (columns grid, dataset_grid and grid_params: hemlr.grids.grid_columns):
    one table per dataset grid (or dataset) x backend grid (or backend) with a grid among them,
    a row per combination of its varying parameters, with the final test accuracy, the server
    time per iteration and the largest weight drift of the job's first repeat."""
    if "grid_params" not in df or df["grid_params"].isna().all():
        return []

    def value(v: object) -> str:
        if isinstance(v, (list, tuple, np.ndarray)):  # array-typed keys, e.g. train_rows
            return str(list(v))
        return str(v) if isinstance(v, (bool, np.bool_, str)) else _num(v, ".10g")

    rows = df[df["grid_params"].notna()]
    lines = ["", "## Grids"]
    for (dataset, backend), grid in rows.groupby([rows["dataset_grid"].fillna(rows["dataset"]),
                                                  rows["grid"].fillna(rows["backend"])], sort=False):
        params = list(dict.fromkeys(p for text in grid["grid_params"] for p in text.split(", ")))
        table = pd.DataFrame([
            {**{p: value(job.iloc[-1].get(p)) for p in params},
             "test accuracy (final)": _num(job.iloc[-1].get("test_accuracy"), ".4f"),
             "server time / iteration (s)": _num(_col(job, col.wall("iteration")).mean(), ".3g"),
             "max abs(W - oracle W) / max abs(oracle W)": _num(_col(job, "rel_w_diff_oracle").max(), ".3g")}
            for _, job in _jobs(grid)])
        # numparse off: tabulate would reformat the numbers formatted above (0.5100 -> 0.51)
        lines += ["", f"### Grid `{backend}` on `{dataset}`", "", table.to_markdown(index=False, disable_numparse=True)]
    return lines


COST_MODEL_NOTE = (
    "Server time per iteration: the wall seconds of the iteration phase (with refresh and bootstrap where "
    "present), the median over the job's repeats (min - max beside it), against the cost model's prediction "
    "from the iteration's operation counts by level and the primitives' times measured at each level on this "
    "backend (results/<run>/costmodel/, hemlr.costmodel). Error: predicted / measured - 1.")


def cost_model_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per job (index) and iteration with a prediction (column costmodel.PREDICTED, from
    costmodel.with_predictions): the measured server seconds (median over repeats, and min -
    max), the predicted seconds, the error of the median and a flag beyond costmodel.TOLERANCE;
    empty without predictions."""
    columns = ["iteration", "measured s (median)", "measured s (min - max)", "predicted s", "error", "flag"]
    rows = df[df[costmodel.PREDICTED].notna()] if costmodel.PREDICTED in df else df.iloc[:0]
    rows = rows.assign(_server=costmodel.server_seconds(rows))
    records = []
    for (dataset, backend, iteration), g in rows.groupby([*JOB, "iteration"], sort=False):
        server = g["_server"]
        measured, predicted = server.median(), g[costmodel.PREDICTED].median()
        error = predicted / measured - 1 if measured > 0 else np.nan
        records.append({"job": f"{backend} on {dataset}", "iteration": str(iteration),
                        "measured s (median)": _num(measured, ".3g"),
                        "measured s (min - max)": f"{_num(server.min(), '.3g')} - {_num(server.max(), '.3g')}",
                        "predicted s": _num(predicted, ".3g"), "error": "-" if pd.isna(error) else f"{error:+.0%}",
                        "flag": f"OUTSIDE +-{costmodel.TOLERANCE:.0%}" if abs(error) > costmodel.TOLERANCE else ""})
    return pd.DataFrame(records, columns=["job", *columns]).set_index("job")


def cost_model_sections(df: pd.DataFrame) -> list[str]:
    """summary.md's cost model section: cost_model_table, with a warning naming the jobs whose
    prediction misses an iteration's measurement by more than costmodel.TOLERANCE."""
    table = cost_model_table(df)
    if table.empty:
        return []
    lines = ["", "## Cost model", "", COST_MODEL_NOTE]
    off = list(dict.fromkeys(table.index[table["flag"] != ""]))
    if off:
        lines += ["", _markdown_flag(Flag(f"COST MODEL OFF BY MORE THAN {costmodel.TOLERANCE:.0%}", tuple(off),
                                          "their predicted server time misses the measured one (table below)."))]
    return lines + ["", _markdown(table)]


def write_summary(df: pd.DataFrame, path: Pathish, manifests: Mapping[str, Mapping] | None = None) -> None:
    """summary.md: what ran where, then per dataset its inputs (``manifests``: dataset name ->
    data-stage manifest, optional), its warnings and the backends side by side."""
    lines = [f"# hemlr-bench report: run `{run_name(df)}`", "", f"What ran: {jobs_line(df)}", "",
             *(f"- {label}: {value}" for label, value in provenance_items(df))]
    for dataset, rows in df.groupby("dataset", sort=False):
        lines += _dataset_section(str(dataset), rows, (manifests or {}).get(str(dataset)))
    lines += grid_sections(df)
    lines += cost_model_sections(df)
    lines += ["", f"Notes: {NOTES}"]
    Path(path).write_text("\n".join(lines) + "\n")


# ------------------------------------------------------------------------------------- plots


def _figure(n_panels: int, width: float, height: float) -> tuple[Figure, list]:
    # A bare Figure renders with Agg and leaves pyplot's global state (and backend) alone.
    fig = Figure(figsize=(width * n_panels, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, list(fig.subplots(1, n_panels, squeeze=False)[0])


def accuracy_figure(df: pd.DataFrame) -> Figure:
    """Test accuracy per iteration, one line per backend, one panel per dataset."""
    datasets = list(dict.fromkeys(df["dataset"]))
    fig, axes = _figure(len(datasets), 5.0, 4.0)
    for ax, dataset in zip(axes, datasets):
        jobs = _jobs(df[df["dataset"] == dataset])
        for (_, backend), job in jobs:
            ax.plot(job["iteration"], job["test_accuracy"], marker="o",
                    linestyle="--" if _simulated(job.iloc[-1].get("mode")) else "-", label=job_label(backend, job))
        # The exact algorithm's own curve, from the longest job that has one.
        with_oracle = [job for _, job in jobs if _col(job, "oracle_test_accuracy").notna().any()]
        if with_oracle:
            longest = max(with_oracle, key=len)
            ax.plot(longest["iteration"], longest["oracle_test_accuracy"], color="black", linestyle=":",
                    linewidth=2, label="exact oracle")
        ax.set(title=dataset, xlabel="iteration", ylabel="test accuracy", ylim=(0, 1.02))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    return fig


def phases_figure(df: pd.DataFrame) -> Figure:
    """Stacked bars: total wall time of each phase, per backend, one panel per dataset."""
    phases = [p for p in _phases_in(df) if df[col.wall(p)].fillna(0).any()]
    datasets = list(dict.fromkeys(df["dataset"]))
    fig, axes = _figure(len(datasets), max(6.0, 1.4 * df.groupby("dataset")["backend"].nunique().max() + 3), 4.5)
    cmap = colormaps["tab10" if len(phases) <= 10 else "tab20"]
    colors = {phase: cmap(i) for i, phase in enumerate(phases)}
    for ax, dataset in zip(axes, datasets):
        jobs = _jobs(df[df["dataset"] == dataset])
        x = np.arange(len(jobs))
        bottom = np.zeros(len(jobs))
        simulated = [_simulated(job.iloc[-1].get("mode")) for _, job in jobs]
        for phase in phases:
            heights = np.array([np.nan_to_num(_total(job, col.wall(phase))) for _, job in jobs])
            bars = ax.bar(x, heights, bottom=bottom, color=colors[phase], label=phase,
                          edgecolor="white", linewidth=0.5)
            for bar, sim in zip(bars, simulated):
                bar.set_hatch("//" if sim else "")  # simulated runs never look like encrypted ones
            bottom += heights
        for xi, total in zip(x, bottom):
            ax.annotate(f"{total:.3g} s", (xi, total), ha="center", va="bottom", fontsize="small")
        ax.set_xticks(x, [job_label(b, job) for (_, b), job in jobs], rotation=20, ha="right")
        ax.set(title=dataset, ylabel="wall seconds per phase (sum over iterations)")
        ax.margins(y=0.12)
    if phases:  # one legend for all panels, outside the bars
        fig.legend(*axes[0].get_legend_handles_labels(), loc="outside right upper", fontsize="small")
    return fig


def plot_accuracy(df: pd.DataFrame, path: Pathish) -> None:
    accuracy_figure(df).savefig(path, dpi=120, format="png")


def plot_phases(df: pd.DataFrame, path: Pathish) -> None:
    phases_figure(df).savefig(path, dpi=120, format="png")


#: scaling plot -> (the column on its x axis, its label)
SCALING_AXES = {"n": ("n_train", "training samples n"), "ring": ("ring_dim", "ring dimension N")}


def scaling_figure(df: pd.DataFrame, axis: str) -> Figure:
    """Log-log: server seconds per iteration (costmodel.server_seconds, the mean over a repeat's
    iterations) against SCALING_AXES[axis]; one line per backend against n, per backend grid
    and dataset against the ring; the line joins the medians over the repeats, the band spans
    their min to max."""
    x, label = SCALING_AXES[axis]
    rows = df.assign(_server=costmodel.server_seconds(df), _repeat=_col(df, REPEAT).fillna(0),
                     _line=df["backend"] if axis == "n" else
                     _col(df, "grid").fillna(df["backend"]).astype(str) + " on " + df["dataset"].astype(str))
    samples = rows.groupby(["_line", *JOB, "_repeat"], sort=False).agg(server=("_server", "mean"), x=(x, "first"))
    fig, (ax,) = _figure(1, 6.5, 4.5)
    for line, g in samples.groupby(level="_line", sort=False):
        stats = g.groupby("x")["server"].agg(["median", "min", "max"]).sort_index()
        (drawn,) = ax.plot(stats.index, stats["median"], marker="o", label=line)
        ax.fill_between(stats.index, stats["min"], stats["max"], color=drawn.get_color(), alpha=0.2, linewidth=0)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set(xlabel=label, ylabel="server seconds per iteration", title=f"server time against {label}")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small")
    return fig


def plot_scaling(df: pd.DataFrame, axis: str, path: Pathish) -> None:
    scaling_figure(df, axis).savefig(path, dpi=120, format="png")
