"""Two runs side by side, job by job: ``hemlr compare A B``.

A and B are results tables (hemlr.columns: one row per job x repeat x iteration) or run
folders holding one (reports/<run>/results.parquet). A job of A and a job of B are the same
job when their names (hemlr.columns.JOB) and what they trained with (MATCH) agree; a job
without a partner is listed on its side, never dropped. Per matched job the comparison gives
each side's median over its trainings of the seconds per iteration (all server work, then
each timed phase), B/A with its interval (hemlr.stats.median_ratio), the final test accuracy
and the worst weight error; and, for the two runs, the provenance that differs. A Gate
(``--fail``) turns a regression beyond a threshold *and* beyond the noise into a failure.

It reads tables only (numpy, pandas, matplotlib, jinja2, hemlr.columns, hemlr.pricing,
hemlr.stats), like the report wing: comparing two runs never imports a backend.
"""
from __future__ import annotations

import base64
import io
import math
import numbers
import re
from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter

from hemlr import columns as col
from hemlr import pricing
from hemlr.report.jobs import column, distinct, num
from hemlr.stats import LEVEL, MedianInterval, median_interval, median_ratio

#: columns besides JOB that make two runs' jobs one job: the data, the workload's and the
#: backend's parameters and the training's length. A column counts only when both tables have
#: it (older tables lack some), so a new column never unmatches every job of an old run.
MATCH = ("dataset_source", "n_train", "n_features", "workload_params", "params", "ring_dim", "iterations_planned",
         "refresh", "refresh_every")

#: provenance columns (label) whose values the comparison shows when the runs differ in them
PROVENANCE = {"hostname": "hostname", "cpu_model": "CPU", "cpu_count": "logical CPUs", "platform": "platform",
              "python": "Python", "numpy_version": "numpy", "hemlr_version": "hemlr", "git_commit": "git commit",
              "omp_num_threads": "OMP_NUM_THREADS", "workers": "library workers"}
#: how busy the machine was (hemlr.provenance.machine_load), shown for both runs whenever known
LOAD = {"cpu_busy_pct_before": "CPU busy before a training (%)", "load1_before": "load average before a training",
        "cpu_busy_pct_after": "CPU busy after a training (%)", "load1_after": "load average after a training"}

#: the quantities of a training (columns of :func:`trainings`)
SERVER = "server time / iteration, all server work (s)"
ACCURACY = "test accuracy (final)"
#: server time over the cost model's prediction on the same machine's cost table: what compares
#: machines and commits better than raw seconds (rows of runs with cost_model: true)
NORMALISED = "server time / predicted (machine-normalised)"
#: max |W - W_oracle| / max |W_oracle| (column rel_w_diff_oracle) at the training's worst iteration
ERROR = "relative weight error (worst iteration)"

Pathish = str | PathLike


def phase_label(phase: str) -> str:
    """A phase's quantity: its seconds per iteration, a server phase as a part of SERVER."""
    return f"{'of which ' if phase in pricing.SERVER_PHASES else ''}{phase} (s / iteration)"


# ---------------------------------------------------------------------------------- reading


def read_results(path: Pathish) -> pd.DataFrame:
    """The results table at ``path``: a .parquet or .csv file, or a run folder holding
    results.parquet (else results.csv). Raises FileNotFoundError, or ValueError when the file
    is no results table (no JOB or iteration column)."""
    path = Path(path)
    if path.is_dir():
        found = [path / name for name in ("results.parquet", "results.csv") if (path / name).is_file()]
        if not found:
            raise FileNotFoundError(f"{path} is a folder without results.parquet or results.csv (not a run folder)")
        path = found[0]
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file or run folder")
    readers = {".parquet": pd.read_parquet, ".csv": pd.read_csv}
    if path.suffix not in readers:
        raise ValueError(f"{path}: a results table is a .parquet or .csv file, or a run folder")
    try:
        df = readers[path.suffix](path)
    except Exception as exc:  # pyarrow's and pandas' parser errors share no base class
        raise ValueError(f"{path}: cannot read it as a table ({exc})") from exc
    if "workload" not in df and "backend" in df:  # a run from before workloads: the paper's MLR
        df = df.assign(workload=col.LEGACY_WORKLOAD)
    if "workload_params" in df and "workload_kind" in df:  # a run from before a workload had parameters
        legacy = df["workload_params"].fillna("").eq("") & df["workload_kind"].isin(list(col.LEGACY_WORKLOAD_PARAMS))
        df.loc[legacy, "workload_params"] = df.loc[legacy, "workload_kind"].map(col.LEGACY_WORKLOAD_PARAMS)
    if "params" in df:
        df["params"] = df["params"].map(_with_legacy_params)
    missing = [c for c in (*col.JOB, "iteration") if c not in df]
    if missing:
        raise ValueError(f"{path}: not a results table of hemlr (no column {', '.join(missing)})")
    return df


def _with_legacy_params(params: object) -> object:
    """A row's ``key=value, ...`` with the parameters added since it was written
    (columns.LEGACY_BACKEND_PARAMS), in the sorted order the runs write."""
    if not isinstance(params, str):
        return params
    items = [p for p in re.split(r", (?=\w+=)", params) if p]  # values may hold ", " (lists)
    have = {p.split("=", 1)[0] for p in items}
    items += [f"{k}={v}" for k, v in col.LEGACY_BACKEND_PARAMS.items() if k not in have]
    return ", ".join(sorted(items, key=lambda p: p.split("=", 1)[0]))


def median(values: pd.Series) -> float:
    """The median of the values present; NaN when none is."""
    present = values.dropna()
    return float(present.median()) if len(present) else np.nan


# ------------------------------------------------------------------------------- trainings


def _server(rows: pd.DataFrame) -> pd.Series:
    """hemlr.pricing.server_seconds of each row; NaN when the table timed no server phase."""
    if not any(col.wall(p) in rows for p in pricing.SERVER_PHASES):
        return pd.Series(np.nan, index=rows.index)
    return pricing.server_seconds(rows)


def trainings(job: pd.DataFrame) -> pd.DataFrame:
    """One row per training of ``job`` (a repeat of a run): SERVER and every timed phase in
    seconds per iteration (the mean over the training's rows, a one-off cost spread over its
    iterations: the report's server time), ACCURACY at its last iteration and ERROR at its
    worst. A training's iterations are not independent samples (levels fall, refreshes
    recur); whole trainings are, so they are what the statistics count."""
    rows = job.sort_values("iteration")
    values = {SERVER: _server(rows)}
    phases = [*pricing.SERVER_PHASES, *(p for p in col.PHASES if p not in pricing.SERVER_PHASES)]
    values |= {phase_label(p): rows[col.wall(p)].fillna(0.0) for p in phases if col.wall(p) in rows}
    if pricing.PREDICTED in rows:
        values[NORMALISED] = values[SERVER] / rows[pricing.PREDICTED]
    frame = pd.DataFrame({**values, ACCURACY: column(rows, "test_accuracy"),
                          ERROR: column(rows, "rel_w_diff_oracle")}, index=rows.index)
    by = frame.groupby([column(rows, "run").fillna(""), column(rows, col.REPEAT).fillna(0)], sort=False)
    return by[list(values)].mean().assign(**{ACCURACY: by[ACCURACY].last(), ERROR: by[ERROR].max()}).reset_index(
        drop=True)


# --------------------------------------------------------------------------------- joining


def canonical(value: object) -> str:
    """A parameter's value spelled one way whatever the table's type for it (32768 and
    32768.0, a missing value and "", parquet and CSV)."""
    if isinstance(value, (list, tuple, np.ndarray)):  # array-typed parameters, e.g. train_rows
        return str(list(value))
    if value is None or pd.isna(value):
        return ""
    if isinstance(value, numbers.Number) and not isinstance(value, (bool, np.bool_)):
        return format(float(value), ".12g")
    return str(value)


def job_name(dataset: str, workload: str, backend: str) -> str:
    return f"{workload} / {backend} on {dataset}"


def _jobs(df: pd.DataFrame, keys: Sequence[str]) -> dict[tuple[str, ...], pd.DataFrame]:
    """The table's jobs by (JOB values, then ``keys`` values canonical), in table order."""
    spelled = [df[c].astype(str) for c in col.JOB] + [df[c].map(canonical) for c in keys]
    return {tuple(key): rows for key, rows in df.groupby(spelled, sort=False)}


@dataclass(frozen=True)
class Side:
    """One of the two runs, as the command line named it."""

    label: str
    runs: str
    rows: int
    jobs: int


@dataclass(frozen=True)
class Matched:
    """A job both runs trained: its name and each side's :func:`trainings`."""

    name: str
    a: pd.DataFrame
    b: pd.DataFrame


@dataclass(frozen=True)
class Unmatched:
    """A job one run trained and the other did not; ``note``: how it differs from the other
    run's job of the same name, if there is one (a changed parameter, not a missing job)."""

    name: str
    note: str


@dataclass(frozen=True)
class Comparison:
    """What :func:`compare` found; the text, the page and the gates all read this one."""

    a: Side
    b: Side
    matched: list[Matched]
    only_a: list[Unmatched]
    only_b: list[Unmatched]
    #: (what, A's values, B's values): the provenance the runs differ in
    provenance: list[tuple[str, str, str]]
    #: (what, A's median, B's median) over each run's trainings
    load: list[tuple[str, str, str]]
    level: float


def _unmatched(own: dict, other: dict, keys: Sequence[str], other_side: str) -> list[Unmatched]:
    """The jobs of ``own`` that ``other`` lacks, in table order, each with the parameters
    that differ from ``other``'s first job of the same name."""
    found = []
    for key in (k for k in own if k not in other):
        name = key[:len(col.JOB)]
        namesake = next((k for k in other if k[:len(col.JOB)] == name), None)
        differ = [] if namesake is None else [
            f"{c} `{mine or '-'}` here, `{theirs or '-'}` in {other_side}"
            for c, mine, theirs in zip(keys, key[len(col.JOB):], namesake[len(col.JOB):]) if mine != theirs]
        found.append(Unmatched(job_name(*name), "; ".join(differ)))
    return found


def _provenance(a: pd.DataFrame, b: pd.DataFrame) -> list[tuple[str, str, str]]:
    rows = [(label, distinct(a, c, "-"), distinct(b, c, "-")) for c, label in PROVENANCE.items()]
    libraries = [lib for lib in dict.fromkeys(column(a, "library").dropna()) if lib in set(column(b, "library"))]
    rows += [(f"{lib} version", distinct(a[column(a, "library") == lib], "library_version", "-"),
              distinct(b[column(b, "library") == lib], "library_version", "-")) for lib in libraries]
    return [row for row in rows if row[1] != row[2]]


def _load(a: pd.DataFrame, b: pd.DataFrame) -> list[tuple[str, str, str]]:
    def per_training(df: pd.DataFrame, c: str) -> float:
        first_rows = df.drop_duplicates([k for k in (*col.JOB, "run", col.REPEAT) if k in df])
        return median(pd.to_numeric(column(first_rows, c), errors="coerce"))

    rows = [(label, per_training(a, c), per_training(b, c)) for c, label in LOAD.items()]
    return [(label, num(va, ".3g"), num(vb, ".3g")) for label, va, vb in rows if not (np.isnan(va) and np.isnan(vb))]


def compare(a: pd.DataFrame, b: pd.DataFrame, a_label: str = "A", b_label: str = "B",
            level: float = LEVEL) -> Comparison:
    """The comparison of results tables ``a`` and ``b`` (module docstring); matched jobs in
    A's order, intervals at ``level``."""
    keys = [c for c in MATCH if c in a and c in b]
    jobs_a, jobs_b = _jobs(a, keys), _jobs(b, keys)
    matched = [Matched(job_name(*key[:len(col.JOB)]), trainings(rows), trainings(jobs_b[key]))
               for key, rows in jobs_a.items() if key in jobs_b]
    sides = [Side(label, distinct(df, "run", "-"), len(df), len(jobs)) for label, df, jobs in
             ((a_label, a, jobs_a), (b_label, b, jobs_b))]
    return Comparison(sides[0], sides[1], matched, _unmatched(jobs_a, jobs_b, keys, "B"),
                      _unmatched(jobs_b, jobs_a, keys, "A"), _provenance(a, b), _load(a, b), level)


#: what a run of the same code and data must reproduce to the last digit, whatever the machine:
#: the exact backend's accuracies and every operation count (times are not among them)
EXACT = ("train_accuracy", "test_accuracy", "oracle_test_accuracy", "ct_mult", "pt_mult", "scalar_mult", "add",
         "rotation", "rescale", "bootstrap", "upload_cts", "download_cts", "level_after", "refreshes")


def exact_differences(a: pd.DataFrame, b: pd.DataFrame) -> list[str]:
    """Every row of a matched job where B differs from A in an EXACT column, and every job or
    iteration only one side has: empty when B reproduces A exactly."""
    keys = [c for c in MATCH if c in a and c in b]
    jobs_a, jobs_b = _jobs(a, keys), _jobs(b, keys)
    out = [f"only in {side}: {job_name(*key[:len(col.JOB)])}"
           for side, own, other in (("A", jobs_a, jobs_b), ("B", jobs_b, jobs_a)) for key in own if key not in other]
    for key in (k for k in jobs_a if k in jobs_b):
        rows = [jobs.set_index([column(jobs, col.REPEAT).fillna(0).astype(int).rename(col.REPEAT), "iteration"])
                for jobs in (jobs_a[key], jobs_b[key])]
        steps = rows[0].index.symmetric_difference(rows[1].index)
        out += [f"{job_name(*key[:len(col.JOB)])}: repeat {r}, iteration {i} only in one run" for r, i in steps]
        both = rows[0].index.intersection(rows[1].index)
        for name in (c for c in EXACT if c in rows[0] and c in rows[1]):
            x, y = rows[0].loc[both, name], rows[1].loc[both, name]
            for (r, i), u, v in zip(both, x, y):
                if canonical(u) != canonical(v):
                    out.append(f"{job_name(*key[:len(col.JOB)])}: repeat {r}, iteration {i}: {name} {u} in A, {v} in B")
    return out


# ----------------------------------------------------------------------------------- tables


def _interval(iv: MedianInterval, n: int, fmt: str) -> str:
    if n < 2:
        return f"{num(iv.low, fmt)} (1 training)" if n else "-"
    whole = "" if iv.reached else "range, "  # too few trainings for the level: min - max
    return f"{num(iv.low, fmt)} - {num(iv.high, fmt)} ({whole}{iv.coverage:.1%})"


def _times(m: Matched) -> list[str]:
    """The time quantities either side measured: SERVER, then the phases that took time."""
    phases = [q for q in dict.fromkeys([*m.a.columns, *m.b.columns]) if q not in (SERVER, ACCURACY, ERROR)]
    return [SERVER] + [q for q in phases if column(m.a, q).fillna(0).any() or column(m.b, q).fillna(0).any()]


def job_rows(m: Matched, level: float) -> list[list[str]]:
    """A matched job's table, a header then a row per quantity: each side's median over its
    trainings, B against A, and the interval: of B/A for times, of each side's median for
    accuracy and error (what the gates compare)."""
    rows = [["quantity", "A", "B", "B vs A", f"{level:.0%} interval"]]
    for q in _times(m):
        r = median_ratio(column(m.a, q), column(m.b, q), level)
        interval = (f"x{r.low:.3g} - x{r.high:.3g}" if not math.isnan(r.low)
                    else "- (needs 2 trainings a side)" if min(len(m.a), len(m.b)) < 2 else "-")
        rows.append([q, num(median(column(m.a, q)), ".3g"), num(median(column(m.b, q)), ".3g"),
                     "-" if math.isnan(r.ratio) else f"x{r.ratio:.3g}", interval])
    for q, fmt in ((ACCURACY, ".4f"), (ERROR, ".3g")):
        va, vb = column(m.a, q).dropna(), column(m.b, q).dropna()
        ma, mb = median(va), median(vb)
        change = f"{mb - ma:+.4f}" if q == ACCURACY else f"x{mb / ma:.3g}" if ma > 0 else f"{mb - ma:+.3g}"
        rows.append([q, num(ma, fmt), num(mb, fmt), "-" if np.isnan(mb - ma) else change,
                     f"A {_interval(median_interval(va, level), len(va), fmt)}; "
                     f"B {_interval(median_interval(vb, level), len(vb), fmt)}"])
    return rows


# ------------------------------------------------------------------------------------ gates

_NUMBER = r"(\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)"
GATE_SYNTAX = ("time:+N% or time:xF (server time per iteration, B/A); error:+N%, error:xF or error:+D "
               "(the weight error, relative or absolute); accuracy:-D (final test accuracy, absolute)")


@dataclass(frozen=True)
class Gate:
    """A ``--fail`` threshold: ``kind`` regresses when B is worse than A by more than
    ``factor`` (B / A) or ``delta`` (B - A, negative for accuracy).

    Beyond the noise means: for time, the whole interval of B/A (hemlr.stats.median_ratio)
    lies beyond the factor; for error and accuracy, B's interval for the median lies beyond
    A's by the threshold (hemlr.stats.median_interval; a side with too few trainings for the
    level, fewer than 6 at 95%, counts with its whole range, one training with its value:
    accuracy and error move with the encryption's noise only, so a single training still
    tells, where a time needs 2 trainings a side to have an interval at all).
    """

    text: str
    kind: str
    factor: float | None = None
    delta: float | None = None


def parse_gate(text: str) -> Gate:
    """The Gate ``text`` (GATE_SYNTAX) spells; ValueError saying the syntax otherwise."""
    kind, _, limit = text.partition(":")
    percent = re.fullmatch(rf"\+{_NUMBER}%", limit)
    factor = re.fullmatch(rf"x{_NUMBER}", limit)
    delta = re.fullmatch(rf"([+-]){_NUMBER}", limit)
    if kind in ("time", "error") and percent:
        return Gate(text, kind, factor=1 + float(percent[1]) / 100)
    if kind in ("time", "error") and factor and float(factor[1]) >= 1:
        return Gate(text, kind, factor=float(factor[1]))
    if kind == "error" and delta and delta[1] == "+":
        return Gate(text, kind, delta=float(delta[2]))
    if kind == "accuracy" and delta and delta[1] == "-" and float(delta[2]) <= 1:
        return Gate(text, kind, delta=-float(delta[2]))
    raise ValueError(f"{text!r} is no threshold; use {GATE_SYNTAX}; a factor is at least x1")


@dataclass(frozen=True)
class Verdict:
    """A gate on a matched job: ``failed`` True (a regression beyond threshold and noise),
    False, or None (it could not be checked: ``text`` says why)."""

    gate: Gate
    job: str
    failed: bool | None
    text: str


def check(gate: Gate, m: Matched, level: float) -> Verdict:
    """The verdict of ``gate`` on ``m`` (Gate's docstring)."""
    if gate.kind == "time":
        r = median_ratio(m.a[SERVER], m.b[SERVER], level)
        if math.isnan(r.low):
            return Verdict(gate, m.name, None, f"server time has no interval (trainings: A {len(m.a)}, "
                                               f"B {len(m.b)}; it needs 2 a side, with positive times)")
        return Verdict(gate, m.name, r.low > gate.factor, f"server time x{r.ratio:.3g}, {level:.0%} interval "
                                                          f"x{r.low:.3g} - x{r.high:.3g}, limit x{gate.factor:.3g}")
    quantity, fmt = (ERROR, ".3g") if gate.kind == "error" else (ACCURACY, ".4f")
    ia, ib = median_interval(m.a[quantity], level), median_interval(m.b[quantity], level)
    if math.isnan(ia.low) or math.isnan(ib.low):
        return Verdict(gate, m.name, None, f"{quantity}: not measured on {'A' if math.isnan(ia.low) else 'B'}")
    if gate.kind == "accuracy":
        failed, limit = ib.high < ia.low + gate.delta, f"{gate.delta:+.4g}"
    elif gate.factor is not None:
        failed, limit = ib.low > gate.factor * ia.high, f"x{gate.factor:.3g}"
    else:
        failed, limit = ib.low - ia.high > gate.delta, f"{gate.delta:+.3g}"
    return Verdict(gate, m.name, bool(failed), f"{quantity}: A {num(ia.low, fmt)} - {num(ia.high, fmt)}, "
                                               f"B {num(ib.low, fmt)} - {num(ib.high, fmt)}, limit {limit}")


def verdicts(c: Comparison, gates: Sequence[Gate]) -> list[Verdict]:
    return [check(gate, m, c.level) for gate in gates for m in c.matched]


# ----------------------------------------------------------------------------------- output


def _aligned(rows: Sequence[Sequence[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [indent + "  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]


def gate_lines(found: Sequence[Verdict]) -> list[str]:
    """The gates' outcome: every failure and every job a gate could not check, then a total."""
    failed = [v for v in found if v.failed]
    lines = [f"FAILED {v.gate.text}: {v.job}: {v.text}" for v in failed]
    lines += [f"not checked {v.gate.text}: {v.job}: {v.text}" for v in found if v.failed is None]
    passed = sum(v.failed is False for v in found)
    return lines + [f"{'FAILED' if failed else 'no regression'}: {len(failed)} regression(s), {passed} check(s) "
                    f"passed, {sum(v.failed is None for v in found)} not checked"]


def render_text(c: Comparison, found: Sequence[Verdict] = (), gated: bool = False) -> str:
    """The comparison as plain text; the gates' outcome at the end when ``gated``."""
    lines = [f"{name}: {s.label} (run {s.runs}; {s.rows} rows, {s.jobs} jobs)" for name, s in (("A", c.a), ("B", c.b))]
    if c.provenance:
        lines += ["", "Provenance that differs (A | B):", *_aligned([[w, a, "|", b] for w, a, b in c.provenance])]
    if c.load:
        lines += ["", "Machine load, median over trainings (A | B):", *_aligned([[w, a, "|", b] for w, a, b in c.load])]
    lines += ["", f"Matched jobs ({len(c.matched)}); medians over trainings:"]
    for m in c.matched:
        lines += ["", f"{m.name}  (trainings: A {len(m.a)}, B {len(m.b)})", *_aligned(job_rows(m, c.level))]
    for side, only in (("A", c.only_a), ("B", c.only_b)):
        lines += ["", f"Only in {side} ({len(only)}):" + ("" if only else " none")]
        lines += [f"  {u.name}" + (f": {u.note}" if u.note else "") for u in only]
    if gated:
        lines += ["", "Gates:", *(f"  {line}" for line in gate_lines(found))]
    return "\n".join(lines) + "\n"


def png_uri(fig: Figure) -> str:
    """``fig`` as a base64 PNG data: URI, for a page that loads nothing from elsewhere."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def ratio_figure(c: Comparison, gates: Sequence[Gate] = ()) -> Figure | None:
    """B/A of the server time per matched job, its interval as a bar, 1 and the time gates'
    limits as vertical lines; None without a ratio to draw."""
    ratios = [(m.name, median_ratio(m.a[SERVER], m.b[SERVER], c.level)) for m in c.matched]
    ratios = [(name, r) for name, r in ratios if not math.isnan(r.ratio)]
    if not ratios:
        return None
    fig = Figure(figsize=(7.0, 1.0 + 0.45 * len(ratios)), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    y = np.arange(len(ratios))[::-1]
    for yi, (_, r) in zip(y, ratios):
        ax.plot([r.low, r.high], [yi, yi], color="tab:blue", linewidth=3, alpha=0.5)
        ax.plot([r.ratio], [yi], "o", color="tab:blue")
    ax.axvline(1.0, color="black", linewidth=1)
    for gate in gates:
        if gate.kind == "time":
            ax.axvline(gate.factor, color="tab:red", linestyle="--", linewidth=1, label=f"--fail {gate.text}")
    ax.set_xscale("log")
    plain = FuncFormatter(lambda v, _: f"x{v:g}")  # x1.1, not 1.1 x 10^0
    low, high = ax.get_xlim()
    ax.xaxis.set_major_formatter(plain)
    ax.xaxis.set_minor_formatter(plain if high / low < 10 else NullFormatter())  # within a decade, or crowded
    ax.set_yticks(y, [name for name, _ in ratios])
    ax.set(xlabel=f"server time per iteration, B / A (median, {c.level:.0%} interval)")
    ax.grid(alpha=0.3, axis="x", which="both")
    if any(g.kind == "time" for g in gates):
        ax.legend(fontsize="small")
    return fig


_ENV = Environment(loader=PackageLoader("hemlr", "templates"), autoescape=True, undefined=StrictUndefined,
                   trim_blocks=True, lstrip_blocks=True)


def page(template: str, **context: object) -> str:
    """hemlr/templates/``template`` rendered with every text escaped: a self-contained page."""
    return _ENV.get_template(template).render(**context)


def render_html(c: Comparison, found: Sequence[Verdict] = (), gates: Sequence[Gate] = ()) -> str:
    """The comparison as one self-contained page (inline CSS, the figure a data: URI)."""
    fig = ratio_figure(c, gates)
    return page("compare.html.j2", c=c, jobs=[(m, job_rows(m, c.level)) for m in c.matched],
                figure=png_uri(fig) if fig is not None else None,
                gates=gate_lines(found) if gates else [], failed=any(v.failed for v in found))
