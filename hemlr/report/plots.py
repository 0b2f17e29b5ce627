"""The report's figures: test accuracy per iteration, time per phase, and server time against
the training set size or the ring. Each is a bare matplotlib Figure (report.html embeds it)
and a PNG file beside summary.md (which links it), named in FILES."""
from __future__ import annotations

from itertools import cycle

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from hemlr import columns as col
from hemlr.columns import JOB, REPEAT

from .jobs import (Pathish, column, job_label, job_name, named_jobs, phases_in, server_time, several_workloads,
                   simulated, total)

#: scaling plot -> (the column on its x axis, its label)
SCALING_AXES = {"n": ("n_train", "training samples n"), "ring": ("ring_dim", "ring dimension N")}
#: each figure's file in the report's directory (the workflow's REPORT_FILES name them alike)
FILES = {"accuracy": "accuracy.png", "phases": "time_per_phase.png",
         **{f"scaling_{axis}": f"scaling_{axis}.png" for axis in SCALING_AXES}}


def _figure(n_panels: int, width: float, height: float) -> tuple[Figure, list]:
    # A bare Figure renders with Agg and leaves pyplot's global state (and backend) alone.
    fig = Figure(figsize=(width * n_panels, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, list(fig.subplots(1, n_panels, squeeze=False)[0])


def _datasets(df: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(df["dataset"]))


def accuracy_figure(df: pd.DataFrame) -> Figure:
    """Test accuracy per iteration, one line per job, one panel per dataset."""
    datasets = _datasets(df)
    fig, axes = _figure(len(datasets), 5.0, 4.0)
    for ax, dataset in zip(axes, datasets):
        jobs = named_jobs(df[df["dataset"] == dataset])
        for name, job in jobs:
            ax.plot(job["iteration"], job["test_accuracy"], marker="o" if len(job) <= 30 else None,
                    linestyle="--" if simulated(job.iloc[-1]) else "-", label=job_label(name, job))
        # Each workload's exact algorithm, from its longest job that has the curve.
        with_oracle = [job for _, job in jobs if column(job, "oracle_test_accuracy").notna().any()]
        several = several_workloads(df[df["dataset"] == dataset])
        for workload, linestyle in zip(dict.fromkeys(job["workload"].iloc[0] for job in with_oracle),
                                       cycle((":", "-.", (0, (1, 3)), (0, (5, 3))))):
            longest = max((job for job in with_oracle if job["workload"].iloc[0] == workload), key=len)
            ax.plot(longest["iteration"], longest["oracle_test_accuracy"], color="black", linestyle=linestyle,
                    linewidth=2, label=job_name(workload, "exact oracle", several))
        ax.set(title=dataset, xlabel="iteration", ylabel="test accuracy", ylim=(0, 1.02))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    return fig


def phases_figure(df: pd.DataFrame) -> Figure:
    """Stacked bars: total wall time of each phase, per job, one panel per dataset."""
    phases = [p for p in phases_in(df) if df[col.wall(p)].fillna(0).any()]
    datasets = _datasets(df)
    most_jobs = df.drop_duplicates(JOB)["dataset"].value_counts().max()
    fig, axes = _figure(len(datasets), max(6.0, 1.4 * most_jobs + 3), 4.5)
    cmap = colormaps["tab10" if len(phases) <= 10 else "tab20"]
    colors = {phase: cmap(i) for i, phase in enumerate(phases)}
    for ax, dataset in zip(axes, datasets):
        jobs = named_jobs(df[df["dataset"] == dataset])
        x = np.arange(len(jobs))
        bottom = np.zeros(len(jobs))
        hatches = ["//" if simulated(job.iloc[-1]) else "" for _, job in jobs]  # never like encrypted runs
        for phase in phases:
            heights = np.array([np.nan_to_num(total(job, col.wall(phase))) for _, job in jobs])
            bars = ax.bar(x, heights, bottom=bottom, color=colors[phase], label=phase,
                          edgecolor="white", linewidth=0.5)
            for bar, hatch in zip(bars, hatches):
                bar.set_hatch(hatch)
            bottom += heights
        for xi, height in zip(x, bottom):
            ax.annotate(f"{height:.3g} s", (xi, height), ha="center", va="bottom", fontsize="small")
        ax.set_xticks(x, [job_label(name, job) for name, job in jobs], rotation=20, ha="right")
        ax.set(title=dataset, ylabel="wall seconds per phase (sum over iterations)")
        ax.margins(y=0.12)
    if phases:  # one legend for all panels, outside the bars
        fig.legend(*axes[0].get_legend_handles_labels(), loc="outside right upper", fontsize="small")
    return fig


def _scaling_lines(df: pd.DataFrame, axis: str) -> pd.Series:
    """Each row's line of a scaling plot: its job's name against n; its backend grid's (or
    backend's) name and dataset against the ring."""
    unit = df["backend"] if axis == "n" else column(df, "grid").fillna(df["backend"])
    several = several_workloads(df)
    names = pd.Series([job_name(w, u, several) for w, u in zip(df["workload"], unit)], index=df.index)
    return names if axis == "n" else names + " on " + df["dataset"].astype(str)


def scaling_figure(df: pd.DataFrame, axis: str) -> Figure:
    """Log-log: server seconds per iteration (jobs.server_time of each repeat) against
    SCALING_AXES[axis]; one line per job against n, per backend grid and dataset against the
    ring; the line joins the medians over the repeats, the band spans their min to max."""
    x, label = SCALING_AXES[axis]
    rows = df.assign(_repeat=column(df, REPEAT).fillna(0), _line=_scaling_lines(df, axis))
    samples = pd.DataFrame([{"line": line, "x": g[x].iloc[0], "server": server_time(g)}
                            for (line, *_), g in rows.groupby(["_line", *JOB, "_repeat"], sort=False)])
    fig, (ax,) = _figure(1, 6.5, 4.5)
    for line, g in samples.groupby("line", sort=False):
        stats = g.groupby("x")["server"].agg(["median", "min", "max"]).sort_index()
        (drawn,) = ax.plot(stats.index, stats["median"], marker="o", label=line)
        ax.fill_between(stats.index, stats["min"], stats["max"], color=drawn.get_color(), alpha=0.2, linewidth=0)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set(xlabel=label, ylabel="server seconds per iteration, all server work",
           title=f"server time against {label}")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small")
    return fig


def _save(fig: Figure, path: Pathish) -> None:
    fig.savefig(path, dpi=120, format="png")


def plot_accuracy(df: pd.DataFrame, path: Pathish) -> None:
    _save(accuracy_figure(df), path)


def plot_phases(df: pd.DataFrame, path: Pathish) -> None:
    _save(phases_figure(df), path)


def plot_scaling(df: pd.DataFrame, axis: str, path: Pathish) -> None:
    _save(scaling_figure(df, axis), path)
