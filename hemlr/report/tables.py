"""The report's tables, as DataFrames of formatted cells: the merged results table, the
backends side by side, the accuracy per iteration, the repeats' statistics, the grids and
the cost model against the measurements.

Cells are strings (a number formatted once, here), so that summary.md and report.html show
the same text.
"""
from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from hemlr import columns as col
from hemlr import pricing
from hemlr.stats import LEVEL, median_interval

from .jobs import (Pathish, column, job_label, job_name, jobs, named_jobs, num, per_iteration, phases_in,
                   repeat_count, server_cpu, server_time, several_workloads, simulated, size, suffixes, total)

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
    job_max_rss_mb and job_cpu_s (benchmark_paths[i] belongs to paths[i]). A file that cannot
    be read raises ValueError naming it and saying to delete it (the workflow rebuilds it)."""
    paths, benchmark_paths = list(paths), list(benchmark_paths)
    if len(paths) != len(benchmark_paths):
        raise ValueError(f"{len(paths)} tables but {len(benchmark_paths)} benchmark files")
    if not paths:
        raise ValueError("no training tables to merge")
    fields = (("job_wall_s", "s"), ("job_max_rss_mb", "max_rss"), ("job_cpu_s", "cpu_time"))
    # A damaged file (a full disk, a killed copy) is named with the remedy, not left to a reader's
    # own message about '<Buffer>'; a missing one raises as it is.
    remedy = "delete it and rerun to rebuild it"  # Snakemake rebuilds a missing output
    frames = []
    for table, bench in zip(paths, benchmark_paths):
        try:
            b = pd.read_csv(bench, sep="\t")
        except FileNotFoundError:
            raise
        except (OSError, ValueError) as exc:  # pandas' ParserError and EmptyDataError, UnicodeDecodeError
            raise ValueError(f"{bench}: cannot read this job's benchmark ({type(exc).__name__}: {exc}); "
                             f"{remedy}") from exc
        missing = [field for _, field in fields if field not in b]
        if missing:
            raise ValueError(f"{bench}: not a Snakemake benchmark file (no column {', '.join(missing)}); {remedy}")
        # Several rows when Snakemake repeats a benchmark: report their mean.
        job = {name: pd.to_numeric(b[field], errors="coerce").mean() for name, field in fields}
        try:
            frame = pd.read_parquet(table)
        except (FileNotFoundError, ImportError, MemoryError):
            raise
        except Exception as exc:  # pyarrow's ArrowInvalid (a ValueError), OSError, or its bare ArrowException
            raise ValueError(f"{table}: cannot read this training table ({type(exc).__name__}: {exc}); "
                             f"{remedy}") from exc
        frames.append(frame.assign(**job))
    return _arrow_safe(pd.concat(frames, ignore_index=True, sort=False))


# ------------------------------------------------------------------------------ side by side


def _mode(last: pd.Series) -> str:
    """What ran, as a reader must know it: simulated, exact, encrypted, or interactive."""
    if simulated(last):
        return "SIMULATED (not encrypted)"
    refresh = last.get("refresh")
    if refresh == "client" and not (last.get("refreshes_planned") or 0) > 0:
        return f"{last.get('mode')} (client refresh allowed, none needed: the depth held every iteration)"
    if refresh == "client":
        return f"interactive (client refresh every {num(last.get('refresh_every'), '.0f')} iterations)"
    if refresh == "bootstrap":
        return f"{last.get('mode')}, non-interactive ({num(last.get('refreshes_planned'), '.0f')} bootstraps)"
    return str(last.get("mode", "-"))


def _security(last: pd.Series) -> str:
    text = str(last.get("security")) if pd.notna(last.get("security")) else "-"
    bits = num(last.get("security_bits"), ".0f")
    return f"{text} ({bits}-bit)" if bits != "-" and bits not in text else text


def _params(last: pd.Series) -> str:
    shape = ", ".join(f"{k} {num(last[k], '.0f')}" for k in ("ring_dim", "slots", "depth", "scale_bits")
                      if pd.notna(last.get(k)))
    extra = last.get("params")
    return "; ".join(s for s in (shape, str(extra) if pd.notna(extra) and extra else "") if s) or "-"


#: a row of a side-by-side table: its label, and its value for one job (the job's rows
#: sorted by iteration, and its final row)
Metric = tuple[str, Callable[[pd.DataFrame, pd.Series], str]]


def _count_and_bytes(cts: str, nbytes: str) -> Callable[[pd.DataFrame, pd.Series], str]:
    return lambda j, last: f"{num(total(j, cts), '.0f')} / {size(total(j, nbytes))}"


def _seconds(value: Callable[[pd.DataFrame], float]) -> Callable[[pd.DataFrame, pd.Series], str]:
    return lambda j, last: num(value(j), ".3g")


#: the headline time of a job: jobs.server_time
SERVER_TIME = "server time / iteration, all server work (s)"
#: what a server phase's row of the split holds, where its name alone does not say it
_SPLIT_LABELS = {"refresh": "refresh: client round trip, the client's re-encryption and the server's load"}


def _time_rows(df: pd.DataFrame) -> list[Metric]:
    """SERVER_TIME with its split by server phase (those ``df`` timed), the client's own
    decryption beside it, and the server's CPU."""
    rows = [(SERVER_TIME, _seconds(server_time))]
    rows += [(f"of which {_SPLIT_LABELS.get(phase, phase)} (s)",
              _seconds(lambda j, c=col.wall(phase): per_iteration(j, c)))
             for phase in pricing.SERVER_PHASES if col.wall(phase) in df]
    if col.wall("decrypt") in df:
        rows.append(("client decrypt / iteration, the client's work (s)",
                     _seconds(lambda j: per_iteration(j, col.wall("decrypt")))))
    return rows + [("server CPU / iteration, all server work (s)", _seconds(server_cpu))]


def metric_groups(df: pd.DataFrame) -> dict[str, list[Metric]]:
    """The rows of the side-by-side tables, in groups (overview, time, operations, traffic);
    rows for the upload parts, key kinds, phases and setup operations that occur in ``df``."""
    return {
        "overview": [
            ("library", lambda j, last: str(last.get("library", "-"))),
            ("algorithm", lambda j, last: str(last.get("algorithm", "-"))),
            ("mode", lambda j, last: _mode(last)),
            ("security", lambda j, last: _security(last)),
            ("parameters", lambda j, last: _params(last)),
            ("iterations", lambda j, last: num(last.get("iteration"), ".0f")),
            ("test accuracy (final)", lambda j, last: num(last.get("test_accuracy"), ".4f")),
            ("train accuracy (final)", lambda j, last: num(last.get("train_accuracy"), ".4f")),
            ("SLE loss (final)", lambda j, last: num(last.get("sle_loss"))),
            ("BCE loss per sample, train / test (final)",
             lambda j, last: f"{num(last.get('bce_loss'))} / {num(last.get('test_bce_loss'))}"),
            ("max abs(W - oracle W) (final)", lambda j, last: num(last.get("max_abs_w_diff_oracle"), ".3g")),
            *[(f"share of layer {layer}'s |z| beyond the cubic's monotone range (exact, final)",
               lambda j, last, c=col.BEYOND_MONOTONE + layer: num(last.get(c), ".2%"))
              for layer in suffixes(df, col.BEYOND_MONOTONE)],
        ],
        "time": [
            *_time_rows(df),
            *[(f"{phase}: wall s, total", lambda j, last, c=col.wall(phase): num(total(j, c), ".3g"))
              for phase in phases_in(df)],
            ("refreshes (bootstraps or client round trips)", lambda j, last: num(total(j, "refreshes"), ".0f")),
            ("levels left after the last iteration", lambda j, last: num(last.get("levels_left"), ".0f")),
            ("peak RSS (MB)", lambda j, last: num(column(j, "peak_rss_mb").max(), ".0f")),
            ("job wall / CPU (s)",
             lambda j, last: f"{num(last.get('job_wall_s'), '.3g')} / {num(last.get('job_cpu_s'), '.3g')}"),
            ("job max RSS (MB)", lambda j, last: num(last.get("job_max_rss_mb"), ".0f")),
        ],
        "operations": [
            *[(f"{name} / iteration", lambda j, last, c=kind: num(column(j, c).mean(), ".4g"))
              for kind, name in col.OP_LABELS.items()],
            *[(f"{name} in the server's setup", lambda j, last, c=col.setup_op(kind): num(total(j, c), ".0f"))
              for kind, name in col.OP_LABELS.items() if col.setup_op(kind) in df],
        ],
        "traffic": [
            ("upload (ciphertexts / bytes)", _count_and_bytes("upload_cts", "upload_bytes")),
            *[(f"upload {part} (ciphertexts / bytes)", _count_and_bytes(col.upload_cts(part), col.upload_bytes(part)))
              for part in suffixes(df, col.upload_cts(""))],
            ("download (ciphertexts / bytes)", _count_and_bytes("download_cts", "download_bytes")),
            ("evaluation keys", lambda j, last: size(total(j, "evalkey_bytes"))),
            *[(f"key {kind.replace('_', ' ')}", lambda j, last, c=col.key_bytes(kind): size(total(j, c)))
              for kind in suffixes(df, col.key_bytes(""))],
        ],
    }


def side_by_side(rows: pd.DataFrame, metrics: Sequence[Metric]) -> pd.DataFrame:
    """Metrics down, jobs across (labelled with their warnings), for one dataset."""
    table = pd.DataFrame({job_label(name, job): [fn(job, job.iloc[-1]) for _, fn in metrics]
                          for name, job in named_jobs(rows)}, index=[label for label, _ in metrics])
    table.index.name = "metric"
    return table


def accuracy_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Test accuracy per iteration (down) and job (across), for one dataset."""
    table = pd.DataFrame({job_label(name, job): job.set_index("iteration")["test_accuracy"]
                          for name, job in named_jobs(rows)})
    table.index.name = "iteration"
    return table.sort_index().apply(lambda c: c.map(lambda v: num(v, ".4f")))


# ----------------------------------------------------------------------------------- repeats


def sample_statistics(samples: pd.Series) -> dict[str, float]:
    """n, median, min, max and interquartile range (pandas' linear quantiles) of ``samples``,
    missing values left out."""
    d = samples.astype(float).describe()
    return {"n": d["count"], "median": d["50%"], "min": d["min"], "max": d["max"], "IQR": d["75%"] - d["25%"]}


#: the repeats table's column of the median's distribution-free interval
MEDIAN_CI = f"median {LEVEL:.0%} interval (coverage)"


def median_ci(samples: pd.Series, fmt: str) -> str:
    """The median's order-statistics interval with the coverage it has for this n (a reader can
    quote it: below 6 repeats no interval reaches 95%, and the range's own coverage is shown)."""
    iv = median_interval(samples)
    return f"{num(iv.low, fmt)} - {num(iv.high, fmt)} ({iv.coverage:.1%}{'' if iv.reached else ', the range'})"


def repeat_samples(job: pd.DataFrame) -> list[tuple[str, str, pd.Series]]:
    """One value per repeat of ``job`` (all its rows), as (quantity, number format, values):
    the server time per iteration (jobs.server_time), each phase's wall seconds summed over
    the repeat's iterations (phases never timed left out), the weight error max |W - W_oracle|
    / max |W_oracle| at the repeat's worst iteration (the paper's algorithm only) and the final
    test accuracy (when there is a test set)."""
    by = job.groupby(col.REPEAT)
    samples = [(SERVER_TIME, ".3g", by.apply(server_time))]
    samples += [(f"{phase}: wall s", ".3g", by[col.wall(phase)].sum())
                for phase in phases_in(job) if job[col.wall(phase)].fillna(0).any()]
    samples += [("max abs(W - oracle W) / max abs(oracle W)", ".3g", by["rel_w_diff_oracle"].max()),
                ("test accuracy (final)", ".4f", by["test_accuracy"].last())]
    return [(quantity, fmt, values) for quantity, fmt, values in samples if values.notna().any()]


def repeats_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Per job of one dataset that trained more than once, per quantity of repeat_samples: n,
    median, min, max and IQR over its repeats; empty when no job repeated."""
    records = [{"job": job_label(name, job), "quantity": quantity,
                **{k: num(v, ".0f" if k == "n" else fmt) for k, v in sample_statistics(values).items()},
                MEDIAN_CI: median_ci(values, fmt)}
               for name, job in named_jobs(rows, every_repeat=True) if repeat_count(job) > 1
               for quantity, fmt, values in repeat_samples(job)]
    columns = ["job", "quantity", "n", "median", "min", "max", "IQR", MEDIAN_CI]
    return pd.DataFrame(records, columns=columns).set_index("job")


# ------------------------------------------------------------------------------------- grids


def _grid_value(v: object) -> str:
    if isinstance(v, (list, tuple, np.ndarray)):  # array-typed keys, e.g. train_rows
        return str(list(v))
    return str(v) if isinstance(v, (bool, np.bool_, str)) else num(v, ".10g")


def _grid_table(grid: pd.DataFrame) -> pd.DataFrame:
    """One grid's jobs (first repeat), a row each: its varying parameters (the first as the
    index), final test accuracy, server time per iteration and largest weight drift."""
    params = list(dict.fromkeys(p for text in grid["grid_params"] for p in text.split(", ")))
    table = pd.DataFrame([
        {**{p: _grid_value(job.iloc[-1].get(p)) for p in params},
         "test accuracy (final)": num(job.iloc[-1].get("test_accuracy"), ".4f"),
         SERVER_TIME: num(server_time(job), ".3g"),
         "max abs(W - oracle W) / max abs(oracle W)": num(column(job, "rel_w_diff_oracle").max(), ".3g")}
        for _, job in jobs(grid)])
    return table.set_index(params[0])


def grid_tables(df: pd.DataFrame) -> list[tuple[str, str, pd.DataFrame]]:
    """The run's grids (columns grid, workload_grid, dataset_grid and grid_params:
    hemlr.grids.grid_columns) as (grid name, dataset or dataset grid, table): one per dataset
    grid (or dataset) x workload grid (or workload) x backend grid (or backend) with a grid
    among them; the grid's name as a job's (jobs.job_name), among the dataset's grids."""
    if "grid_params" not in df or df["grid_params"].isna().all():
        return []
    rows = df[df["grid_params"].notna()]
    rows = rows.assign(_dataset=column(rows, "dataset_grid").fillna(rows["dataset"]),
                       _workload=column(rows, "workload_grid").fillna(rows["workload"]),
                       _backend=column(rows, "grid").fillna(rows["backend"]))
    out = []
    for dataset, of_dataset in rows.groupby("_dataset", sort=False):
        several = of_dataset["_workload"].nunique() > 1
        out += [(job_name(workload, backend, several), str(dataset), _grid_table(grid))
                for (workload, backend), grid in of_dataset.groupby(["_workload", "_backend"], sort=False)]
    return out


# -------------------------------------------------------------------------------- cost model


def cost_model_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per job (index, "name on dataset") and iteration with a prediction (column
    pricing.PREDICTED, from pricing.with_predictions): the measured server seconds (pricing's
    server_seconds, as jobs.server_time: median over repeats, and min - max), the predicted
    seconds, the error of the median and a flag beyond pricing.TOLERANCE; empty without
    predictions."""
    columns = ["iteration", "measured s (median)", "measured s (min - max)", "predicted s", "error", "flag"]
    rows = df[df[pricing.PREDICTED].notna()] if pricing.PREDICTED in df else df.iloc[:0]
    rows = rows.assign(_server=pricing.server_seconds(rows))
    several = several_workloads(rows)
    records = []
    for (dataset, workload, backend, iteration), g in rows.groupby([*col.JOB, "iteration"], sort=False):
        server = g["_server"]
        measured, predicted = server.median(), g[pricing.PREDICTED].median()
        error = predicted / measured - 1 if measured > 0 else np.nan
        records.append({"job": f"{job_name(workload, backend, several)} on {dataset}", "iteration": str(iteration),
                        "measured s (median)": num(measured, ".3g"),
                        "measured s (min - max)": f"{num(server.min(), '.3g')} - {num(server.max(), '.3g')}",
                        "predicted s": num(predicted, ".3g"), "error": "-" if pd.isna(error) else f"{error:+.0%}",
                        "flag": f"OUTSIDE +-{pricing.TOLERANCE:.0%}" if abs(error) > pricing.TOLERANCE else ""})
    return pd.DataFrame(records, columns=["job", *columns]).set_index("job")
