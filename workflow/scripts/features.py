"""Snakemake script: build a dataset's features and cache them as .npz (rule features)."""
from hemlr.job import atomic_output, logged_failure, start

log = start(snakemake.log[0], snakemake.threads)

from hemlr import sources  # noqa: E402  (after start: threads)
from hemlr.dataset import save_dataset  # noqa: E402

name = snakemake.wildcards.dataset
with logged_failure(log, "features", dataset=name, spec=dict(snakemake.params.spec)):
    source = sources.source(snakemake.params.spec, name)
    source.manifest(name)  # fail on missing inputs before the heavy work
    ds = source.load(name)
    with atomic_output(snakemake.output[0]) as tmp:
        save_dataset(ds, tmp)
    log.info("%s: train %s, test %s, %d classes; %s", ds.name, ds.X_train.shape, ds.X_test.shape,
             ds.n_classes, ds.note)
