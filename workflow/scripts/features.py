"""Snakemake script: build a dataset's features and cache them as .npz (rule features)."""
from hemlr.job import atomic_output, logged_failure, start

log = start(snakemake.log[0], snakemake.threads)

from hemlr import sources  # noqa: E402  (after start: threads)
from hemlr.dataset import build_record, save_dataset  # noqa: E402

name = snakemake.wildcards.dataset
with logged_failure(log, "features", dataset=name, spec=dict(snakemake.params.spec)):
    source = sources.source(snakemake.params.spec, name)
    source.manifest(name)  # fail on missing inputs before the heavy work
    ds = source.load(name)
    # What built it (the train jobs refuse a cache of anything else): the rule's params, which
    # also make Snakemake rebuild it when they change.
    record = build_record(snakemake.params.spec, snakemake.params.sha256)
    with atomic_output(snakemake.output[0]) as tmp:
        save_dataset(ds, tmp, built_from=record)
    log.info("%s: train %s, test %s, %d classes; %s; built from %s", ds.name, ds.X_train.shape, ds.X_test.shape,
             ds.n_classes, ds.note, record["digest"])
