"""The report's warnings: what a reader must know before trusting a dataset's numbers, or
the cost model's, with the jobs they concern."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from hemlr import pricing

from .jobs import column, failed, insecure, named_jobs, simulated

#: the cubic sigmoid's design range: the paper fits it to the logistic on [-8, 8]
SIGMOID_RANGE = 8.0
#: CPU share used by other processes (sampled by the job while idle) that makes its times suspect
BUSY_PCT = 25.0


@dataclass(frozen=True)
class Flag:
    """A warning of the report: its label, the jobs it concerns (none: the whole dataset), why."""

    label: str
    jobs: tuple[str, ...]
    text: str


def _under_load(job: pd.DataFrame) -> bool:
    return any((column(job, f"cpu_busy_pct_{when}") > BUSY_PCT).any() for when in ("before", "after"))


def _accuracy_varies(job: pd.DataFrame) -> bool:
    """Whether the train or test accuracy of some iteration differs between the job's repeats."""
    return bool((job.groupby("iteration")[["train_accuracy", "test_accuracy"]].nunique() > 1).any().any())


#: the warnings about jobs: label, which jobs (all their rows), why
_JOB_FLAGS: tuple[tuple[str, Callable[[pd.DataFrame], bool], str], ...] = (
    ("FAILED", failed, "drifted from the exact reference beyond the run's tolerance (max |W - "
     "W_oracle| / max |W_oracle|, column rel_w_diff_oracle): their accuracies are not the "
     "algorithm's."),
    ("SIMULATED, NOT ENCRYPTED", lambda job: simulated(job.iloc[-1]),
     "ran in simulation mode: nothing was encrypted, so their times and sizes are not those of "
     "encrypted training."),
    ("MEASURED UNDER LOAD", _under_load,
     f"found other processes using more than {BUSY_PCT:g}% of the CPUs just before or just after "
     "training (columns cpu_busy_pct_before/after): their times are not those of an idle "
     "machine; rerun them alone to compare."),
    ("INSECURE", lambda job: insecure(job.iloc[-1]),
     "state no security level (security_bits null) although their mode is not exact: their "
     "parameters protect nothing, their times are not those of secure parameters."),
    ("RANGE CHECK OFF", lambda job: str(job.iloc[-1].get("range_check")) == "warn",
     "trained with `range_check: warn`: data the range checks would have refused (scores beyond "
     "the activation's range, or weights beyond what a ciphertext's last level holds) was "
     "trained on on purpose; the job's log says what the checks found."),
    ("ACCURACY VARIES ACROSS REPEATS", _accuracy_varies,
     "trained more than once and their train or test accuracy differs between repeats at some "
     "iteration (the repeats table gives the spread of the final test accuracy): CKKS noise is "
     "fresh in every repeat, so predictions whose scores tie within it can flip, and a "
     "simulation draws its own errors; the exact algorithm's accuracies never differ."),
)


def _not_paper_data(rows: pd.DataFrame) -> list[Flag]:
    first = rows.iloc[0]
    if bool(first.get("paper_data", False)):
        return []
    note = str(first.get("dataset_note", "") or "no description")
    return [Flag("NOT THE PAPER'S DATA", (), (
        f"{note}. The paper trains on the first 128 MNIST training images through RegNet-X-400MF "
        "(400 features) and tests on all 10,000 MNIST test images: these numbers do not reproduce it."))]


def _outside_sigmoid_range(rows: pd.DataFrame) -> list[Flag]:
    scores = column(rows, "oracle_max_abs_score")
    if not (scores > SIGMOID_RANGE).any():
        return []
    first_out = int(rows.loc[scores > SIGMOID_RANGE, "iteration"].min())
    return [Flag("NOTE", (), (
        f"from iteration {first_out} the exact algorithm's scores |S| leave the cubic "
        f"sigmoid's design range [-{SIGMOID_RANGE:g}, {SIGMOID_RANGE:g}]: past it the cubic no "
        "longer approximates the logistic, so later iterations follow the cubic, not logistic "
        "regression."))]


def dataset_flags(rows: pd.DataFrame) -> list[Flag]:
    """The warnings of one dataset's rows: not the paper's data, the jobs' warnings
    (_JOB_FLAGS, over all their repeats) and scores outside the sigmoid's range."""
    named = named_jobs(rows, every_repeat=True)
    about_jobs = [Flag(label, names, text) for label, test, text in _JOB_FLAGS
                  if (names := tuple(name for name, job in named if test(job)))]
    return _not_paper_data(rows) + about_jobs + _outside_sigmoid_range(rows)


def cost_model_flags(table: pd.DataFrame) -> list[Flag]:
    """A warning naming the jobs of cost_model_table ``table`` whose prediction misses an
    iteration's measurement by more than pricing.TOLERANCE."""
    off = tuple(dict.fromkeys(table.index[table["flag"] != ""]))
    return [Flag(f"COST MODEL OFF BY MORE THAN {pricing.TOLERANCE:.0%}", off,
                 "their predicted server time misses the measured one (table below).")] if off else []
