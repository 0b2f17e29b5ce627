"""The report as one ordered list of sections: summary.md (hemlr.report.markdown) and
report.html (hemlr.report.html) both render this list, so neither shows what the other lacks.

A section is a part of the report (level 2: the provenance, a dataset, the grids, a scaling
plot, the cost model) or a section of the part before it (level 3), about one dataset or the
whole run. It has a title and, optionally, notes, warnings, a bullet list, a figure and a
table, shown in that order. Titles, notes and bullets are text with inline ``code`` only.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial

import pandas as pd
from matplotlib.figure import Figure

from .facts import dataset_line, jobs_line, provenance_items, run_name
from .flags import Flag, cost_model_flags, dataset_flags
from .plots import FILES, SCALING_AXES, accuracy_figure, phases_figure, scaling_figure
from .tables import accuracy_table, cost_model_table, grid_tables, metric_groups, repeats_table, side_by_side


@dataclass(frozen=True)
class Plot:
    """A figure, drawn only by a renderer that embeds it (report.html), and its PNG file beside
    summary.md, which links it (a dataset's figure is that dataset's panel of the file)."""

    draw: Callable[[], Figure]
    file: str


@dataclass(frozen=True, eq=False)
class Section:
    """One section of the report (module docstring)."""

    title: str
    level: int = 3
    #: the dataset it is about; None: the whole run
    dataset: str | None = None
    notes: tuple[str, ...] = ()
    flags: tuple[Flag, ...] = ()
    bullets: tuple[str, ...] = ()
    plot: Plot | None = None
    table: pd.DataFrame | None = None
    #: the figure says it: the page folds the table away (summary.md has no figure inline)
    folded: bool = False

    @property
    def caption(self) -> str:
        """What the figure shows, for a reader who cannot see it."""
        return self.title if self.dataset is None else f"{self.title}, dataset {self.dataset}"


@dataclass(frozen=True)
class Report:
    """The whole report: a title, what ran, the sections, and the notes that close it."""

    title: str
    jobs: str
    sections: tuple[Section, ...]
    notes: str


NOTES = ("Times are wall seconds on the machine above (expect +-40% between runs). Totals are sums over "
         "a job's iteration rows, one-off costs counted in the first iteration. Job wall / CPU / RSS come "
         "from Snakemake's benchmark of the whole job (start-up and evaluation included). Mode `exact` is "
         "the plaintext reference without any cryptography; `[SIMULATED]` marks runs that encrypted "
         "nothing, `[INSECURE]` runs without a security level, `[FAILED]` jobs that failed. A job trained "
         "more than once (`repeats`) shows its first repeat in the side-by-side and accuracy tables and "
         "in the plots; its repeats table gives the statistics over all of them.")

TIME_NOTE = ("Server time per iteration is all of the server's work: the wall seconds of its iteration, "
             "refresh and bootstrap phases (hemlr.pricing.server_seconds), averaged over the "
             "iterations of the first repeat, a refresh or bootstrap spread over all of them; the same "
             "time as in the grids, the repeats, the scaling plots and the cost model. The rows below it "
             "split it by phase. A refresh is a round trip to the client: its wall time includes the "
             "client's re-encryption of the state beside the server's loading it, so it counts some "
             "client work as the server's; the client's decryption is the client's own row, not server "
             "work.")

REPEATS_NOTE = ("Jobs trained more than once (`repeats`): each repeat is a whole training from fresh keys, "
                "one after the other in the same job, and one sample here. Every repeat counts, the first "
                "included: none is set apart as warm-up (the side-by-side table shows the first repeat, to "
                "compare). The server time's sample is its time per iteration in one repeat; a phase's is "
                "its wall seconds in one repeat, summed over the repeat's iterations; the weight error's is "
                "the repeat's worst iteration. IQR: 75th minus 25th percentile (linear interpolation). The "
                "median's interval is distribution-free (order statistics, hemlr.stats): its coverage is "
                "exact for the n at hand; below 6 repeats no interval reaches 95% and the whole range is "
                "given with its own coverage, 1 - 2^(1 - n).")

COST_MODEL_NOTE = (
    "Server time per iteration: all of the server's work in the iteration (the wall seconds of its iteration, "
    "refresh and bootstrap phases, as in the side-by-side tables), the median over the job's repeats "
    "(min - max beside it), against the cost model's prediction from the iteration's operation counts by "
    "level and the primitives' times measured at each level on this backend (results/<run>/costmodel/, "
    "hemlr.microbenchmark, hemlr.pricing). Error: predicted / measured - 1.")


def provenance_section(df: pd.DataFrame) -> Section:
    """What produced the numbers, first: a reader judges them by it."""
    return Section("Provenance", level=2, bullets=tuple(f"{label}: {value}" for label, value in provenance_items(df)))


def dataset_sections(name: str, rows: pd.DataFrame, manifest: Mapping | None) -> list[Section]:
    """One dataset's part: its source, warnings and inputs (``manifest``: the data stage's),
    then its jobs side by side, with figures, and their repeats."""
    first = rows.iloc[0]
    paper = (f"The paper's data: {first.get('dataset_note', '')}",) if bool(first.get("paper_data", False)) else ()
    inputs = tuple(line.removeprefix("- ") for line in (manifest or {}).get("inputs", []))
    groups = {group: side_by_side(rows, metrics) for group, metrics in metric_groups(rows).items()}
    repeats = repeats_table(rows)
    return [
        Section(f"Dataset `{name}`", level=2, dataset=name, notes=(dataset_line(rows), *paper),
                flags=tuple(dataset_flags(rows))),
        *([Section("Inputs", dataset=name, bullets=inputs)] if inputs else []),
        Section("Backends side by side", dataset=name, table=groups["overview"]),
        Section("Accuracy per iteration", dataset=name, plot=Plot(partial(accuracy_figure, rows), FILES["accuracy"]),
                table=accuracy_table(rows), folded=True),
        Section("Time per phase and memory", dataset=name, notes=(TIME_NOTE,),
                plot=Plot(partial(phases_figure, rows), FILES["phases"]), table=groups["time"]),
        Section("Operation counts", dataset=name, table=groups["operations"]),
        Section("Upload, download and key sizes", dataset=name, table=groups["traffic"]),
        *([Section("Repeats", dataset=name, notes=(REPEATS_NOTE,), table=repeats)] if not repeats.empty else []),
    ]


def grid_sections(df: pd.DataFrame) -> list[Section]:
    """The grids' part (tables.grid_tables), a section per grid; none without grids."""
    grids = [Section(f"Grid `{grid}` on `{dataset}`", table=table) for grid, dataset, table in grid_tables(df)]
    return [Section("Grids", level=2), *grids] if grids else []


def scaling_sections(df: pd.DataFrame, scaling: Sequence[str]) -> list[Section]:
    """A part per scaling plot (SCALING_AXES keys, hemlr.grids.scaling_axes)."""
    return [Section(f"Scaling with {SCALING_AXES[axis][1]}", level=2,
                    plot=Plot(partial(scaling_figure, df, axis), FILES[f"scaling_{axis}"])) for axis in scaling]


def cost_model_sections(df: pd.DataFrame) -> list[Section]:
    """The cost model's part, with a warning naming the jobs it mispredicts; none without
    predictions."""
    table = cost_model_table(df)
    if table.empty:
        return []
    return [Section("Cost model", level=2, notes=(COST_MODEL_NOTE,), flags=tuple(cost_model_flags(table)), table=table)]


def build_report(df: pd.DataFrame, manifests: Mapping[str, Mapping] | None = None,
                 scaling: Sequence[str] = ()) -> Report:
    """The report of the merged table ``df`` (manifests: dataset name -> data-stage manifest;
    scaling: the scaling plots to draw, hemlr.grids.scaling_axes)."""
    datasets = [s for name, rows in df.groupby("dataset", sort=False)
                for s in dataset_sections(str(name), rows, (manifests or {}).get(str(name)))]
    sections = [provenance_section(df), *datasets, *grid_sections(df), *scaling_sections(df, scaling),
                *cost_model_sections(df)]
    return Report(f"hemlr-bench report: run `{run_name(df)}`", jobs_line(df), tuple(sections), NOTES)
