"""Grids over backend and dataset parameters, shared dataset files and `repeats`: config
expansion and its messages (hemlr.grids, hemlr.config), the grid columns and summary tables,
and a Snakemake dry run of grid configs."""
from __future__ import annotations

import copy
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from hemlr import sources
from hemlr.config import (ConfigError, backend_iterations, backend_params, backend_training, load_config, train_jobs,
                          validate_config)
from hemlr.grids import grid_columns, scaling_axes
from hemlr.report.markdown import section_lines, write_summary
from hemlr.report.sections import grid_sections

from .test_workflow import _jobs_of_dry_run, snakemake

REPO = Path(__file__).resolve().parents[1]



def pairs(cfg: dict) -> list[tuple[str, str]]:
    """The (dataset, backend) of each job (every one trains the default workload here)."""
    return [(d, b) for d, _, b in train_jobs(cfg)]

def config(backends: dict, datasets: dict | None = None, **top) -> dict:
    """A config running every dataset on every backend."""
    datasets = datasets or {"d": {"source": "digits", "n_train": 128}}
    return {**top, "datasets": datasets, "backends": backends,
            "experiments": [{"datasets": list(datasets), "backends": list(backends)}]}


def problems(cfg: dict) -> list[str]:
    with pytest.raises(ConfigError) as info:
        validate_config(cfg)
    return str(info.value).splitlines()


# ------------------------------------------------------------------------------ expansion


def test_a_grid_is_the_cross_product_named_like_a_paramspace():
    cfg = validate_config(config({
        "p": {"library": "plaintext"},
        "t": {"library": "tenseal", "ring_dim": [32768, 65536], "scale_bits": 50, "workers": [1, 2]},
    }))
    members = ["t_ring_dim~32768_workers~1", "t_ring_dim~32768_workers~2",
               "t_ring_dim~65536_workers~1", "t_ring_dim~65536_workers~2"]
    assert list(cfg["backends"]) == ["p", *members]
    assert pairs(cfg) == [("d", "p"), *(("d", m) for m in members)]
    assert backend_params(cfg, "t_ring_dim~65536_workers~1") == {
        "library": "tenseal", "ring_dim": 65536, "scale_bits": 50, "workers": 1, "first_mod_bits": 60,
        "security": 128, "rotation_keys": "per_step"}
    assert cfg["grid_members"]["backends"]["t_ring_dim~32768_workers~2"] == {
        "grid": "t", "values": {"ring_dim": 32768, "workers": 2}}
    assert "p" not in cfg["grid_members"]["backends"] and cfg["grid_members"]["datasets"] == {}


def test_member_names_spell_every_kind_of_value_as_a_name():
    cfg = validate_config(config({"p": {"library": "plaintext", "state_bound": [0.5, 2.0], "refresh": "client",
                                        "refresh_every": [None, 1], "bootstrap_slots": [None]}}))
    assert list(cfg["backends"]) == [
        "p_state_bound~0p5_refresh_every~null_bootstrap_slots~null",
        "p_state_bound~0p5_refresh_every~1_bootstrap_slots~null",
        "p_state_bound~2p0_refresh_every~null_bootstrap_slots~null",
        "p_state_bound~2p0_refresh_every~1_bootstrap_slots~null"]


def test_harness_keys_are_grids_too():
    cfg = validate_config(config({"p": {"library": "plaintext", "iterations": [1, 3], "repeats": [1, 2]}}))
    assert [(backend_iterations(cfg, b), backend_training(cfg, b)["repeats"]) for b in cfg["backends"]] == [
        (1, 1), (1, 2), (3, 1), (3, 2)]
    assert "p_iterations~3_repeats~2" in cfg["backends"]


def test_an_array_typed_key_is_a_grid_only_as_a_list_of_lists():
    csv = {"source": "features_csv", "path": "absent.csv", "test_rows": [256, 512]}
    cfg = validate_config(config(
        {"one": {"library": "openfhe", "bootstrap_level_budget": [2, 2]},
         "two": {"library": "openfhe", "bootstrap_level_budget": [[3, 3], [2, 2]]}},
        {"rows": {**csv, "train_rows": [0, 128]}, "sizes": {**csv, "train_rows": [[0, 64], [0, 128], [0, 256]]}}))
    assert cfg["backends"]["one"]["bootstrap_level_budget"] == [2, 2]
    assert [b for b in cfg["backends"] if b != "one"] == ["two_bootstrap_level_budget~3-3",
                                                          "two_bootstrap_level_budget~2-2"]
    assert cfg["backends"]["two_bootstrap_level_budget~2-2"]["bootstrap_level_budget"] == [2, 2]
    assert list(cfg["datasets"]) == ["rows", "sizes_train_rows~0-64", "sizes_train_rows~0-128",
                                     "sizes_train_rows~0-256"]
    assert cfg["datasets"]["sizes_train_rows~0-256"]["train_rows"] == [0, 256]
    assert cfg["grid_members"]["datasets"]["sizes_train_rows~0-64"] == {"grid": "sizes",
                                                                        "values": {"train_rows": [0, 64]}}
    assert len(train_jobs(cfg)) == 4 * 3


def test_a_dataset_size_grid_gives_one_dataset_per_size():
    cfg = validate_config(config({"p": {"library": "plaintext"}}, {"d": {"source": "digits", "n_train": [64, 256]}}))
    assert pairs(cfg) == [("d_n_train~64", "p"), ("d_n_train~256", "p")]
    assert [sources.source(cfg["datasets"][d]).shape().n_train for d, _ in pairs(cfg)] == [64, 256]


def test_experiments_naming_a_grid_run_all_of_its_members():
    cfg = config({"p": {"library": "plaintext", "ring_dim": [16384, 32768]}, "q": {"library": "plaintext"}},
                 {"a": {"source": "digits", "n_train": [64, 128]}, "b": {"source": "digits"}})
    cfg["experiments"] = [{"datasets": ["b"], "backends": ["q", "p"]},
                          {"datasets": ["a"], "backends": ["p_ring_dim~16384"]}]
    assert pairs(validate_config(cfg)) == [
        ("b", "q"), ("b", "p_ring_dim~16384"), ("b", "p_ring_dim~32768"),
        ("a_n_train~64", "p_ring_dim~16384"), ("a_n_train~128", "p_ring_dim~16384")]


def test_validating_a_validated_grid_config_changes_nothing():
    cfg = validate_config(config({"t": {"library": "openfhe", "ring_dim": [32768, 65536],
                                        "bootstrap_level_budget": [[3, 3]]}},
                                 {"d": {"source": "digits", "n_train": [64, 128]}}))
    assert validate_config(copy.deepcopy(cfg)) == cfg


# --------------------------------------------------------------------------------- errors


def test_bad_grid_values_are_named_at_their_place_all_at_once():
    cfg = config({"t": {"library": "tenseal", "ring_dim": [32768, 1000], "scale_bits": 50, "typo": 1},
                  "p": {"library": "plaintext", "iterations": [2, "two"]}},
                 {"d": {"source": "digits", "n_train": [64, 0]}})
    cfg["experiments"].append({"datasets": ["d"], "backends": ["nope"]})
    lines = problems(cfg)
    assert lines[0] == "datasets.d.n_train[1]: 0 is less than the minimum of 1 (the first n_train of sklearn's " \
                       "1797 images train, the rest test)"
    assert lines[1].startswith("backends.t.ring_dim[1]: 1000 is not allowed; allowed values: 8192, 16384, "
                               "32768, 65536 (CKKS ring dimension N")
    assert lines[2].startswith("backends.p.iterations[1]: 'two' is not of type 'integer'")
    # The rest of a bad grid's entry is still checked, under its own name; nothing else is
    # reported about it (no member exists, the experiments' references to it stand).
    assert lines[3].startswith("backends.t.typo: unknown key; allowed keys at backends.t: library, iterations, "
                               "repeats, ")
    assert lines[4] == "experiments[1].backends[0]: unknown backend 'nope'; defined backends: t, p"
    assert len(lines) == 5


@pytest.mark.parametrize("grid, problem", [
    ([], "backends.p.ring_dim: [] should be non-empty"),
    ([32768, 32768], "backends.p.ring_dim[1]: 32768 is given twice; each value of a grid once"),
])
def test_a_grid_has_distinct_values(grid, problem):
    assert problems(config({"p": {"library": "plaintext", "ring_dim": grid}})) == [problem]


def test_an_array_typed_grid_item_is_checked_as_the_key():
    lines = problems(config({"o": {"library": "openfhe", "bootstrap_level_budget": [[3, 3], [3, 9]]}}))
    assert lines == ["backends.o.bootstrap_level_budget[1][1]: 9 is greater than the maximum of 5"]


def test_a_member_cannot_take_the_name_of_another_entry():
    lines = problems(config({"p": {"library": "plaintext", "ring_dim": [16384, 32768]},
                             "p_ring_dim~32768": {"library": "plaintext"}}))
    assert lines == ["backends.p: its grid member 'p_ring_dim~32768' has the name of another entry of backends; "
                     "rename one of them"]


def test_a_member_that_cannot_run_is_named_with_its_values():
    lines = problems(config({"p": {"library": "plaintext", "ring_dim": [2048, 32768]}}))
    assert len(lines) == 1
    assert lines[0].startswith("backends.p_ring_dim~2048 with workloads.mlr on datasets.d (128 samples, 64 features, 10 classes): ")
    assert "too few for the K=10 weight rows" in lines[0]


# ------------------------------------------------------------------------ shared datasets


SHARED = {"datasets": {"shared": {"source": "digits", "n_train": 64},
                       "other": {"source": "digits", "n_train": 100}}}


@pytest.fixture
def shared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A shared datasets file, at a path relative to the working directory (where snakemake runs)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "shared.yaml").write_text(yaml.safe_dump(SHARED))
    return Path("shared.yaml")


def test_included_datasets_join_the_config_which_wins_on_a_clash(shared: Path):
    raw = {"include_datasets": str(shared), "datasets": {"other": {"source": "digits", "n_train": 32}},
           "backends": {"p": {"library": "plaintext"}},
           "experiments": [{"datasets": ["shared", "other"], "backends": ["p"]}]}
    cfg = validate_config(raw)
    assert cfg["datasets"] == {"shared": {"source": "digits", "n_train": 64, "standardize": False},
                               "other": {"source": "digits", "n_train": 32, "standardize": False}}
    assert "include_datasets" not in cfg and validate_config(copy.deepcopy(cfg)) == cfg
    del raw["datasets"]
    assert validate_config(raw)["datasets"]["other"]["n_train"] == 100


def test_problems_inside_an_included_file_name_the_file(shared: Path, tmp_path: Path):
    data = copy.deepcopy(SHARED)
    data["datasets"]["shared"]["n_tain"] = 5
    data["datasets"]["sized"] = {"source": "digits", "n_train": [64, -1]}
    data["datasets"]["a/b"] = {"source": "digits"}
    data["backends"] = {}
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    lines = problems({"include_datasets": ["shared.yaml", "bad.yaml"], "backends": {"p": {"library": "plaintext"}},
                      "experiments": [{"datasets": ["shared", "sized"], "backends": ["p"]}]})
    assert lines == [
        "bad.yaml: backends: unknown key; allowed keys at <top level>: datasets",
        "bad.yaml: datasets: name 'a/b' is not allowed; names must match ^[A-Za-z0-9][A-Za-z0-9_~-]*$ (letters, "
        "digits, '_', '-' and '~': they become file names)",
        "bad.yaml: datasets.sized.n_train[1]: -1 is less than the minimum of 1 (the first n_train of sklearn's "
        "1797 images train, the rest test)",
        "bad.yaml: datasets.shared.n_tain: unknown key; allowed keys at datasets.shared: source, n_train, standardize",
    ]


def test_an_unreadable_include_is_named(shared: Path, tmp_path: Path):
    (tmp_path / "broken.yaml").write_text("datasets: [unclosed\n")
    lines = problems({"include_datasets": ["absent.yaml", "broken.yaml"], "backends": {"p": {"library": "plaintext"}},
                      "experiments": [{"datasets": ["x"], "backends": ["p"]}]})
    assert lines[0] == ("include_datasets: cannot read absent.yaml (No such file or directory; relative paths are "
                        "relative to the directory snakemake runs in)")
    assert lines[1].startswith("broken.yaml: not valid YAML")
    # then what follows from having no dataset at all
    assert lines[-2:] == ["datasets: {} should be non-empty (name -> a data source and its keys (below, by source))",
                          "experiments[0].datasets[0]: unknown dataset 'x'; defined datasets: "]


def test_named_runs_share_the_authors_features(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(REPO)
    shared = yaml.safe_load((REPO / "workflow/configs/shared/datasets.yaml").read_text())["datasets"]
    for name in ("paper", "converge", "bench-concrete", "bench-openfhe", "bench-tenseal"):
        raw = yaml.safe_load((REPO / "workflow/configs" / f"{name}.yaml").read_text())
        assert "datasets" not in raw, name
        cfg = load_config(REPO / "workflow/configs" / f"{name}.yaml")
        assert {k: v for k, v in cfg["datasets"]["authors-features"].items() if k != "standardize"} \
            == shared["authors-features"]


def test_scaling_axes_follow_the_grids_the_experiments_train_on():
    sizes = {"d": {"source": "digits", "n_train": [64, 128]}}
    rings = {"p": {"library": "plaintext", "ring_dim": [16384, 32768]}}
    assert scaling_axes(validate_config(config(rings, sizes))) == ["n", "ring"]
    assert scaling_axes(validate_config(config(rings))) == ["ring"]
    assert scaling_axes(validate_config(config({"p": {"library": "plaintext", "max_depth": [20, 30]}}, sizes))) == ["n"]
    # a grid of one value varies nothing; a grid no experiment trains on draws nothing
    assert scaling_axes(validate_config(config({"p": {"library": "plaintext", "ring_dim": [16384]}}))) == []
    unused = validate_config({**config({"q": {"library": "plaintext"}}), "backends": {"q": {"library": "plaintext"},
                                                                                        **rings}})
    assert scaling_axes(unused) == []


def test_the_scaling_workload(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(REPO)
    cfg = load_config(REPO / "workflow/configs/scaling.yaml")
    assert scaling_axes(cfg) == ["n", "ring"] and cfg["cost_model"] and (cfg["repeats"], cfg["iterations"]) == (3, 2)
    assert sorted(pairs(cfg)) == sorted(
        (f"authors-features-n_train_rows~0-{n}", f"{lib}_ring_dim~{ring}")
        for n in (64, 128, 256) for lib in ("tenseal", "openfhe") for ring in (32768, 65536))
    assert {name: (d["train_rows"], d["test_rows"]) for name, d in cfg["datasets"].items() if "~" in name} == {
        f"authors-features-n_train_rows~0-{n}": ([0, n], [256, 512]) for n in (64, 128, 256)}
    tenseal, openfhe = backend_params(cfg, "tenseal_ring_dim~65536"), backend_params(cfg, "openfhe_ring_dim~32768")
    assert (tenseal["scale_bits"], tenseal["workers"], openfhe["scale_bits"]) == (50, 2, 40)


@pytest.mark.parametrize("name, grid, members", [
    ("bench-tenseal", "tenseal", {"tenseal_ring_dim~32768": (32768, 2), "tenseal_ring_dim~65536": (65536, 2)}),
    ("bench-openfhe", "openfhe", {"openfhe_ring_dim~32768": (32768, None), "openfhe_ring_dim~65536": (65536, None)}),
])
def test_the_benchmarks_write_their_rings_as_a_grid(monkeypatch: pytest.MonkeyPatch, name, grid, members):
    monkeypatch.chdir(REPO)
    cfg = load_config(REPO / "workflow/configs" / f"{name}.yaml")
    assert {m: r["grid"] for m, r in cfg["grid_members"]["backends"].items()
            if r["grid"] == grid} == dict.fromkeys(members, grid)
    assert {m: (backend_params(cfg, m)["ring_dim"], backend_params(cfg, m)["workers"]) for m in members} == members


# -------------------------------------------------------------------------------- repeats


def test_repeats_default_to_one_and_a_backend_overrides_the_run():
    backends = {"p": {"library": "plaintext"}, "q": {"library": "plaintext", "repeats": 5}}
    cfg = validate_config(config(backends))
    assert (cfg["repeats"], backend_training(cfg, "p")["repeats"], backend_training(cfg, "q")["repeats"]) == (1, 1, 5)
    cfg = validate_config(config(backends, repeats=3))
    assert [backend_training(cfg, b)["repeats"] for b in ("p", "q")] == [3, 5]
    assert "repeats" not in backend_params(cfg, "q")  # a harness key: the adapter never sees it


@pytest.mark.parametrize("where", ["top", "backend"])
def test_repeats_must_be_positive(where):
    backend = {"library": "plaintext", **({"repeats": 0} if where == "backend" else {})}
    lines = problems(config({"p": backend}, **({"repeats": 0} if where == "top" else {})))
    assert len(lines) == 1
    assert lines[0].startswith(("repeats: 0 is less than the minimum of 1" if where == "top" else
                                "backends.p.repeats: 0 is less than the minimum of 1"))


# ------------------------------------------------------------------------ table and summary


def _job(dataset: str, backend: str, accuracy: float, seconds: float, drift: float, workload: str = "mlr",
         **columns) -> pd.DataFrame:
    """The rows of one job's tidy table (2 iterations) that the grid summary reads."""
    return pd.DataFrame({"run": "grid", "dataset": dataset, "workload": workload, "backend": backend,
                         "library": "plaintext", "mode": "exact", "iteration": [1, 2], "train_accuracy": [0.2, 0.6],
                         "test_accuracy": [0.1, accuracy], "time_iteration_s": [seconds, seconds],
                         "rel_w_diff_oracle": [drift / 10, drift], **columns})


def _cells(row: str) -> list[str]:
    """The cells of a markdown table row."""
    return [c.strip() for c in row.strip().strip("|").split("|")]


def _grid_lines(df: pd.DataFrame) -> list[str]:
    """summary.md's lines of the grids' part."""
    return [line for section in grid_sections(df) for line in section_lines(section)]


def _grid_run() -> tuple[pd.DataFrame, dict]:
    cfg = validate_config(config({"p": {"library": "plaintext"},
                                  "t": {"library": "plaintext", "ring_dim": [16384, 32768], "iterations": [2, 3]}},
                                 {"d": {"source": "digits", "n_train": [64, 128]}}))
    jobs = train_jobs(cfg)
    df = pd.concat([_job(d, b, accuracy=0.5 + i / 100, seconds=1.0 + i, drift=10.0 ** -i, workload=w,
                         ring_dim=cfg["backends"][b]["ring_dim"], n_train=cfg["datasets"][d]["n_train"])
                    for i, (d, w, b) in enumerate(jobs)], ignore_index=True)
    return df, cfg


def test_grid_columns_name_the_grids_and_their_varying_keys():
    df, cfg = _grid_run()
    out = grid_columns(df, cfg)
    assert len(out) == len(df) and list(out.columns[:len(df.columns)]) == list(df.columns)
    job = out[(out["dataset"] == "d_n_train~128") & (out["backend"] == "t_ring_dim~32768_iterations~3")].iloc[0]
    assert (job["grid"], job["dataset_grid"], job["grid_params"]) == ("t", "d", "n_train, ring_dim, iterations")
    assert (job["ring_dim"], job["n_train"], job["iterations"]) == (32768, 128, 3)
    plain = out[out["backend"] == "p"]
    assert plain["grid"].isna().all() and set(plain["grid_params"]) == {"n_train"}
    assert plain["iterations"].isna().all()  # not a grid key of that job
    alone = grid_columns(_job("x", "y", 0.5, 1.0, 0.1), {"grid_members": {}})
    assert alone[["grid", "dataset_grid", "grid_params"]].isna().all().all()


def test_the_summary_shows_each_grid_as_one_table_over_its_varying_parameters():
    df, cfg = _grid_run()
    lines = _grid_lines(grid_columns(df, cfg))
    assert lines[:2] == ["", "## Grids"]
    heads = [line for line in lines if line.startswith("### ")]
    assert heads == ["### Grid `p` on `d`", "### Grid `t` on `d`"]
    table = lines[lines.index("### Grid `t` on `d`") + 2].splitlines()
    header = _cells(table[0])
    assert header == ["n_train", "ring_dim", "iterations", "test accuracy (final)",
                      "server time / iteration, all server work (s)", "max abs(W - oracle W) / max abs(oracle W)"]
    rows = [_cells(row) for row in table[2:]]
    # jobs 1..4 on n_train 64, 6..9 on 128 (0 and 5: backend p); job i: accuracy 0.5 + i/100, i + 1 s, 10^-i
    assert rows[0] == ["64", "16384", "2", "0.5100", "2", "0.1"]
    assert rows[-1] == ["128", "32768", "3", "0.5900", "10", "1e-09"]
    assert len(rows) == 8
    assert _grid_lines(df) == [] and _grid_lines(grid_columns(_job("x", "y", 0.5, 1.0, 0.1), cfg)) == []


def test_the_summary_file_holds_the_grid_tables(tmp_path: Path):
    df, cfg = _grid_run()
    write_summary(grid_columns(df, cfg), tmp_path / "summary.md")
    text = (tmp_path / "summary.md").read_text()
    assert "## Grids" in text and "### Grid `t` on `d`" in text
    assert text.index("## Grids") > text.index("## Dataset `d_n_train~128`")


def test_an_array_typed_grid_key_is_shown_as_its_list():
    frame = pd.DataFrame({"dataset": ["s_train_rows~0-64"], "workload": ["mlr"], "backend": ["p"], "grid": [None],
                          "dataset_grid": ["s"], "grid_params": ["train_rows"], "train_rows": [np.array([0, 64])],
                          "iteration": [1], "test_accuracy": [0.25], "time_iteration_s": [1.0],
                          "rel_w_diff_oracle": [np.nan]})
    lines = _grid_lines(frame)
    assert lines[3] == "### Grid `p` on `s`"
    assert _cells(lines[5].splitlines()[2]) == ["[0, 64]", "0.2500", "1", "-"]


def test_a_grid_has_a_table_per_workload_or_workload_grid():
    def run(workloads: dict[str, str | None]) -> pd.DataFrame:
        """Backend grid t (two rings) on dataset d, for each workload (-> its workload grid)."""
        return pd.concat([_job("d", f"t_ring_dim~{ring}", 0.5, 1.0, 0.1, workload=w, grid="t", dataset_grid=None,
                               workload_grid=g, grid_params="lr, ring_dim" if g else "ring_dim", ring_dim=ring,
                               lr=w[-1]) for w, g in workloads.items() for ring in (16384, 32768)], ignore_index=True)

    heads = [line for line in _grid_lines(run({"mlr": None, "cubic": None})) if line.startswith("### ")]
    assert heads == ["### Grid `mlr / t` on `d`", "### Grid `cubic / t` on `d`"]
    lines = _grid_lines(run({"w_lr~1": "w", "w_lr~2": "w"}))  # one workload grid: one table, its key a column
    assert [line for line in lines if line.startswith("### ")] == ["### Grid `t` on `d`"]
    table = lines[-1].splitlines()
    assert _cells(table[0])[:2] == ["lr", "ring_dim"] and len(table) == 2 + 4


# -------------------------------------------------------------------------------- workflow


@pytest.mark.slow
def test_dry_run_of_a_grid_config_lists_one_train_job_per_combination(tmp_path: Path):
    cfg = {"run": "grid", **config({"p": {"library": "plaintext", "ring_dim": [16384, 32768]}},
                                   {"d": {"source": "digits", "n_train": [64, 128]}})}
    proc = snakemake(tmp_path, cfg, "--dry-run", "--cores", "1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = _jobs_of_dry_run(proc.stdout)
    train = sorted(fields["wildcards"] for name, fields in jobs.items() if name.startswith("train["))
    assert train == [f"dataset=d_n_train~{n}, workload=mlr, backend=p_ring_dim~{r}" for n in (128, 64)
                     for r in (16384, 32768)]
    assert sorted(name for name in jobs if name.startswith("features[")) == [
        "features[dataset=d_n_train~128]", "features[dataset=d_n_train~64]"]


@pytest.mark.slow
def test_dry_run_of_bench_tenseal_keeps_its_jobs(tmp_path: Path):
    """The named config, run where its shared datasets file is at its relative path."""
    (tmp_path / "workflow/configs/shared").mkdir(parents=True)
    shutil.copy(REPO / "workflow/configs/shared/datasets.yaml", tmp_path / "workflow/configs/shared")
    proc = snakemake(tmp_path, None, "--configfile", str(REPO / "workflow/configs/bench-tenseal.yaml"),
                     "--dry-run", "--cores", "2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    train = sorted(re.sub(r".*backend=", "", name).rstrip("]")
                   for name in _jobs_of_dry_run(proc.stdout) if name.startswith("train["))
    assert train == ["plaintext", "tenseal-1proc", "tenseal_ring_dim~32768", "tenseal_ring_dim~65536"]
