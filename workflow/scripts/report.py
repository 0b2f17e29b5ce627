"""Snakemake script: merge the run's training tables and write its report files (rule report)."""
import json
from pathlib import Path

from hemlr.job import start

log = start(snakemake.log[0], snakemake.threads)

from hemlr.report import merge_tables, plot_accuracy, plot_phases, write_summary  # noqa: E402

out = snakemake.output
df = merge_tables(snakemake.input.tables, snakemake.input.benchmarks)
df.to_parquet(out.parquet, index=False)
df.to_csv(out.csv, index=False)
manifests = {Path(p).stem: json.loads(Path(p).read_text()) for p in snakemake.input.manifests}
write_summary(df, out.summary, manifests)
plot_accuracy(df, out.accuracy)
plot_phases(df, out.phases)
log.info("%d rows from %d jobs merged into %s", len(df), len(snakemake.input.tables), out.parquet)
