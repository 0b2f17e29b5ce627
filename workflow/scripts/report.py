"""Snakemake script: merge the run's training tables and write its report files (rule report)."""
import json
from pathlib import Path

from hemlr.job import atomic_output, logged_failure, start

log = start(snakemake.log[0], snakemake.threads)

import pandas as pd  # noqa: E402

from hemlr.pricing import with_predictions  # noqa: E402
from hemlr.grids import grid_columns, scaling_axes  # noqa: E402
from hemlr.report.html import write_html  # noqa: E402
from hemlr.report.markdown import write_summary  # noqa: E402
from hemlr.report.plots import plot_accuracy, plot_phases, plot_scaling  # noqa: E402
from hemlr.report.tables import merge_tables  # noqa: E402

out = snakemake.output
with logged_failure(log, "report", run=snakemake.config["run"]):
    # The grids are the config's (which entries were expanded from which), not the jobs'.
    df = grid_columns(merge_tables(snakemake.input.tables, snakemake.input.benchmarks), snakemake.config)
    # cost_model: true: each row's predicted server time beside the measured one; the tables
    # are costmodel/<workload>/<backend>.parquet
    df = with_predictions(df, {(Path(p).parent.name, Path(p).stem): pd.read_parquet(p)
                               for p in snakemake.input.costmodels})
    manifests = {Path(p).stem: json.loads(Path(p).read_text()) for p in snakemake.input.manifests}
    axes = scaling_axes(snakemake.config)  # the rule declares a scaling_<axis> output for each
    writers = {
        out.parquet: lambda path: df.to_parquet(path, index=False),
        out.csv: lambda path: df.to_csv(path, index=False),
        out.summary: lambda path: write_summary(df, path, manifests, axes),
        out.accuracy: lambda path: plot_accuracy(df, path),
        out.phases: lambda path: plot_phases(df, path),
        out.html: lambda path: write_html(df, path, manifests, axes),
        **{getattr(out, f"scaling_{axis}"): lambda path, axis=axis: plot_scaling(df, axis, path) for axis in axes},
    }
    for path, write in writers.items():
        with atomic_output(path) as tmp:
            write(tmp)
    log.info("%d rows from %d jobs merged into %s", len(df), len(snakemake.input.tables), out.parquet)
