"""The run's report: the training jobs' tidy tables merged, summarised side by side, and plotted.

Input: one table per training job (hemlr.experiment.run_experiment, columns as in
hemlr.columns), one row per iteration, plus Snakemake's benchmark of that job, and the data
stage's manifest of each dataset.
"""
from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping, Sequence
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from . import columns as col
from .columns import JOB, OP_LABELS

Pathish = str | PathLike


# ------------------------------------------------------------------------------------- merge


def _arrow_safe(df: pd.DataFrame) -> pd.DataFrame:
    """Give every mixed object column one type: jobs of different libraries disagree (e.g.
    scale_bits 40 in one table, None in another) and Arrow refuses mixed columns."""
    for col in df.columns[df.dtypes == object]:
        values = df[col].dropna()
        if values.empty:
            continue
        if all(isinstance(v, numbers.Number) and not isinstance(v, bool) for v in values):
            df[col] = pd.to_numeric(df[col])
        elif values.map(type).nunique() > 1:
            df[col] = df[col].where(df[col].isna(), df[col].astype(str))
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


def _label(backend: str, mode: object) -> str:
    return f"{backend} [SIMULATED]" if _simulated(mode) else backend


def _phases_in(df: pd.DataFrame) -> list[str]:
    return [p for p in col.PHASES if col.wall(p) in df]


def _jobs(df: pd.DataFrame) -> list[tuple[tuple[str, str], pd.DataFrame]]:
    """(dataset, backend) groups in table order, rows sorted by iteration."""
    return [(key, g.sort_values("iteration")) for key, g in df.groupby(JOB, sort=False)]


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


# ----------------------------------------------------------------------------------- summary


def _security(last: pd.Series) -> str:
    text = str(last.get("security")) if pd.notna(last.get("security")) else "-"
    bits = _num(last.get("security_bits"), ".0f")
    return f"{text} ({bits}-bit)" if bits != "-" and bits not in text else text


def _phases(job: pd.DataFrame) -> str:
    parts = [f"{p} {_num(_total(job, col.wall(p)), '.3g')}" for p in _phases_in(job)
             if pd.notna(_total(job, col.wall(p)))]
    return ", ".join(parts) or "-"


def _params(last: pd.Series) -> str:
    shape = ", ".join(f"{k} {_num(last[k], '.0f')}" for k in ("ring_dim", "slots", "depth", "scale_bits")
                      if pd.notna(last.get(k)))
    extra = last.get("params")
    return "; ".join(s for s in (shape, str(extra) if pd.notna(extra) and extra else "") if s) or "-"


# (row label, value of one job: its rows sorted by iteration, and the final row)
_METRICS: list[tuple[str, Callable[[pd.DataFrame, pd.Series], str]]] = [
    ("library", lambda j, last: str(last.get("library", "-"))),
    ("algorithm", lambda j, last: str(last.get("algorithm", "-"))),
    ("mode", lambda j, last: "SIMULATED (not encrypted)" if _simulated(last.get("mode")) else str(last.get("mode", "-"))),
    ("security", lambda j, last: _security(last)),
    ("parameters", lambda j, last: _params(last)),
    ("iterations", lambda j, last: _num(last.get("iteration"), ".0f")),
    ("test accuracy (final)", lambda j, last: _num(last.get("test_accuracy"), ".4f")),
    ("train accuracy (final)", lambda j, last: _num(last.get("train_accuracy"), ".4f")),
    ("SLE loss (final)", lambda j, last: _num(last.get("sle_loss"))),
    ("max abs(W - oracle W) (final)", lambda j, last: _num(last.get("max_abs_w_diff_oracle"), ".3g")),
    ("server time / iteration (s)", lambda j, last: _num(_col(j, col.wall("iteration")).mean(), ".3g")),
    ("server CPU / iteration (s)", lambda j, last: _num(_col(j, col.cpu("iteration")).mean(), ".3g")),
    ("wall time by phase, total (s)", lambda j, last: _phases(j)),
    ("upload (ciphertexts / bytes)",
     lambda j, last: f"{_num(_total(j, 'upload_cts'), '.0f')} / {_bytes(_total(j, 'upload_bytes'))}"),
    ("evaluation keys", lambda j, last: _bytes(_total(j, "evalkey_bytes"))),
    ("download (ciphertexts / bytes)",
     lambda j, last: f"{_num(_total(j, 'download_cts'), '.0f')} / {_bytes(_total(j, 'download_bytes'))}"),
    *[(f"{name} / iteration", lambda j, last, c=kind: _num(_col(j, c).mean(), ".4g"))
      for kind, name in OP_LABELS.items()],
    ("peak RSS (MB)", lambda j, last: _num(_col(j, "peak_rss_mb").max(), ".0f")),
    ("job wall / CPU (s)", lambda j, last: f"{_num(last.get('job_wall_s'), '.3g')} / {_num(last.get('job_cpu_s'), '.3g')}"),
    ("job max RSS (MB)", lambda j, last: _num(last.get("job_max_rss_mb"), ".0f")),
]


def _side_by_side(rows: pd.DataFrame) -> pd.DataFrame:
    """Metrics down, backends across, for one dataset."""
    columns = {}
    for (_, backend), job in _jobs(rows):
        last = job.iloc[-1]
        columns[_label(backend, last.get("mode"))] = [fn(job, last) for _, fn in _METRICS]
    table = pd.DataFrame(columns, index=[name for name, _ in _METRICS])
    table.index.name = "metric"
    return table.apply(lambda col: col.str.replace("|", r"\|", regex=False))  # keep the markdown table intact


def _time_span(df: pd.DataFrame) -> str:
    stamps = _col(df, "timestamp").dropna().astype(str).sort_values()
    return "unknown" if stamps.empty else f"{stamps.iloc[0]} to {stamps.iloc[-1]}"


def _header(df: pd.DataFrame) -> list[str]:
    jobs = _jobs(df)
    versions = "; ".join(f"{lib}: {_distinct(g, 'library_version')}" for lib, g in df.groupby("library", sort=False))
    return [
        f"# hemlr-bench report: run `{_distinct(df, 'run')}`",
        "",
        f"What ran: {len(jobs)} training job(s): "
        + ", ".join(f"`{b}` on `{d}` ({len(g)} iterations)" for (d, b), g in jobs) + ".",
        "",
        f"- Machine: {_distinct(df, 'hostname')} ({_distinct(df, 'platform')})",
        f"- CPU: {_distinct(df, 'cpu_model')}; {_distinct(df, 'cpu_count')} logical CPUs; "
        f"OMP_NUM_THREADS {_distinct(df, 'omp_num_threads')}; library workers {_distinct(df, 'workers')}",
        f"- Python {_distinct(df, 'python')}; numpy {_distinct(df, 'numpy_version')}; "
        f"hemlr {_distinct(df, 'hemlr_version')}",
        f"- Libraries: {versions}",
        f"- Git commit: {_distinct(df, 'git_commit')}",
        f"- Run at: {_time_span(df)}",
    ]


def _inputs(manifest: Mapping) -> list[str]:
    """What the data stage recorded about a dataset's inputs (its source's manifest lines)."""
    lines = list(manifest.get("inputs", []))
    return ["", "Inputs:", *lines] if lines else []


def _dataset_section(dataset: str, rows: pd.DataFrame, manifest: Mapping | None) -> list[str]:
    first = rows.iloc[0]
    note = str(first.get("dataset_note", "") or "no description")
    lines = [
        "",
        f"## Dataset `{dataset}`",
        "",
        f"Source `{first.get('dataset_source', '?')}`: {_num(first.get('n_train'), '.0f')} training / "
        f"{_num(first.get('n_test'), '.0f')} test examples, {_num(first.get('n_features'), '.0f')} features, "
        f"{_num(first.get('n_classes'), '.0f')} classes.",
        "",
    ]
    if bool(first.get("paper_data", False)):
        lines.append(f"The paper's data: {note}")
    else:
        lines.append(
            f"> **WARNING: NOT THE PAPER'S DATA.** {note}. The paper trains on the first 128 MNIST "
            "training images through RegNet-X-400MF (400 features) and tests on all 10,000 MNIST "
            "test images: these numbers do not reproduce it.")
    lines += _inputs(manifest or {})
    simulated = sorted({b for (_, b), job in _jobs(rows) if _simulated(job.iloc[-1].get("mode"))})
    if simulated:
        lines += ["", f"> **WARNING: SIMULATED, NOT ENCRYPTED:** {', '.join(f'`{b}`' for b in simulated)} "
                      "ran in simulation mode: nothing was encrypted, so their times and sizes are not "
                      "those of encrypted training."]
    lines += ["", _side_by_side(rows).to_markdown(), ""]
    return lines


def write_summary(df: pd.DataFrame, path: Pathish, manifests: Mapping[str, Mapping] | None = None) -> None:
    """summary.md: what ran where, then per dataset its inputs (``manifests``: dataset name ->
    data-stage manifest, optional) and the backends side by side."""
    lines = _header(df)
    for dataset, rows in df.groupby("dataset", sort=False):
        lines += _dataset_section(str(dataset), rows, (manifests or {}).get(str(dataset)))
    lines += [
        "",
        "Notes: times are wall seconds on the machine above (expect +-40% between runs). Totals are "
        "sums over a job's iteration rows, one-off costs counted in the first iteration. Job wall / "
        "CPU / RSS come from Snakemake's benchmark of the whole job (start-up and evaluation included). "
        "Mode `exact` is the plaintext reference without any cryptography; `[SIMULATED]` marks runs "
        "that encrypted nothing.",
    ]
    Path(path).write_text("\n".join(lines) + "\n")


# ------------------------------------------------------------------------------------- plots


def _figure(n_panels: int, width: float, height: float) -> tuple[Figure, list]:
    # A bare Figure renders with Agg and leaves pyplot's global state (and backend) alone.
    fig = Figure(figsize=(width * n_panels, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, list(fig.subplots(1, n_panels, squeeze=False)[0])


def plot_accuracy(df: pd.DataFrame, path: Pathish) -> None:
    """Test accuracy per iteration, one line per backend, one panel per dataset."""
    datasets = list(dict.fromkeys(df["dataset"]))
    fig, axes = _figure(len(datasets), 5.0, 4.0)
    for ax, dataset in zip(axes, datasets):
        for (_, backend), job in _jobs(df[df["dataset"] == dataset]):
            mode = job.iloc[-1].get("mode")
            ax.plot(job["iteration"], job["test_accuracy"], marker="o", linestyle="--" if _simulated(mode) else "-",
                    label=_label(backend, mode))
        ax.set(title=dataset, xlabel="iteration", ylabel="test accuracy", ylim=(0, 1.02))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.savefig(path, dpi=120)


def plot_phases(df: pd.DataFrame, path: Pathish) -> None:
    """Stacked bars: total wall time of each phase, per backend, one panel per dataset."""
    phases = [p for p in _phases_in(df) if df[col.wall(p)].fillna(0).any()]
    datasets = list(dict.fromkeys(df["dataset"]))
    fig, axes = _figure(len(datasets), max(4.0, 1.4 * df.groupby("dataset")["backend"].nunique().max() + 2), 4.5)
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
        ax.set_xticks(x, [_label(b, job.iloc[-1].get("mode")) for (_, b), job in jobs], rotation=20, ha="right")
        ax.set(title=f"{dataset}: wall time per phase (sum over iterations)", ylabel="seconds")
        ax.margins(y=0.12)
    if phases:  # one legend for all panels, outside the bars
        fig.legend(*axes[0].get_legend_handles_labels(), loc="outside right upper", fontsize="small")
    fig.savefig(path, dpi=120)

