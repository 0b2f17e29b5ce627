"""Snakemake script: build a dataset's features and cache them as .npz (rule features)."""
from _job import start

log = start(snakemake.log[0], snakemake.threads)

from hemlr.config import dataset_manifest  # noqa: E402  (after start: import path, threads)
from hemlr.data import build_dataset, save_dataset  # noqa: E402

name, spec = snakemake.wildcards.dataset, dict(snakemake.params.spec)
dataset_manifest(name, spec)  # fail on missing inputs before the heavy work
ds = build_dataset(name, spec)
save_dataset(ds, snakemake.output[0])
log.info("%s: train %s, test %s, %d classes; %s", ds.name, ds.X_train.shape, ds.X_test.shape,
         ds.n_classes, ds.note)
