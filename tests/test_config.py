"""Tests for hemlr.config: validation messages, defaults, job checks from the shapes alone."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from backends import registry
from hemlr import sources
from hemlr.config import (SCHEMA_PATH, ConfigError, backend_iterations, backend_params, load_config, train_jobs,
                          validate_config)

REPO = Path(__file__).resolve().parents[1]
DEFAULT = yaml.safe_load((REPO / "config.yaml").read_text())


def invalid(mutate) -> str:
    """The ConfigError message of the default config changed by ``mutate``."""
    cfg = copy.deepcopy(DEFAULT)
    mutate(cfg)
    with pytest.raises(ConfigError) as info:
        validate_config(cfg)
    return str(info.value)


# ------------------------------------------------------------------------------- valid configs


def test_default_config_validates_and_fills_defaults():
    cfg = load_config(REPO / "config.yaml")
    assert cfg["run"] == "default" and cfg["iterations"] == 2
    assert cfg["features_dir"] == "results/features"
    assert cfg["datasets"]["digits"] == {"source": "digits", "n_train": 128, "standardize": False}
    # The adapter's schema fills its own defaults.
    assert cfg["backends"]["plaintext"] == {"library": "plaintext", "ring_dim": 32768, "max_depth": 64,
                                            "bootstrap_depth": 16, "bootstrap_slots": None,
                                            "rotation_keys": "per_step",
                                            "refresh": "none", "refresh_every": None, "state_bound": 1.0,
                                            "range_check": "refuse"}
    assert DEFAULT["backends"]["plaintext"] == {"library": "plaintext"}  # the input is not modified


def test_minimal_config_gets_top_level_defaults():
    cfg = validate_config({"datasets": {"d": {"source": "digits"}}, "backends": {"p": {"library": "plaintext"}},
                           "experiments": [{"datasets": ["d"], "backends": ["p"]}]})
    assert (cfg["run"], cfg["iterations"], cfg["features_dir"], cfg["tolerance"]) == ("default", 2, "results/features", 1e-3)
    assert cfg["datasets"]["d"]["n_train"] == 128


@pytest.mark.parametrize("path", sorted((REPO / "workflow" / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_named_configs_validate(path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(REPO)  # where make runs snakemake: the configs' paths are relative to it
    cfg = load_config(path)
    assert cfg["run"] == path.stem
    assert train_jobs(cfg)


def test_mnist_regnet_defaults_match_the_loader():
    cfg = validate_config({**DEFAULT, "datasets": {"m": {"source": "mnist_regnet", "mnist_root": "data/mnist"}},
                           "experiments": [{"datasets": ["m"], "backends": ["plaintext"]}]})
    assert cfg["datasets"]["m"] == {"source": "mnist_regnet", "mnist_root": "data/mnist", "download": False,
                                    "weights": None, "torch_home": None, "n_train": 128, "n_test": None,
                                    "batch_size": 64, "standardize": False}


def test_the_schema_leaves_datasets_and_backends_to_their_owners():
    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    entry = schema["properties"]["datasets"]["additionalProperties"]
    assert set(entry["properties"]) == {"source"} and "definitions" not in entry
    assert "dataset_digits" not in schema["definitions"]
    assert {"digits", "features_csv", "mnist_regnet"} <= set(sources.names())


# ------------------------------------------------------------------------------------- errors


def test_unknown_top_level_key_lists_allowed_keys():
    msg = invalid(lambda c: c.update(iteration=3))
    assert "iteration: unknown key" in msg
    assert ("allowed keys at <top level>: run, iterations, repeats, tolerance, cost_model, features_dir, history_dir, "
            "include_datasets, "
            "datasets, workloads, backends, experiments, grid_members") in msg


def test_unknown_backend_key_lists_adapter_and_harness_keys():
    msg = invalid(lambda c: c["backends"]["plaintext"].update(colour=8192))
    assert "backends.plaintext.colour: unknown key" in msg
    assert ("allowed keys at backends.plaintext: library, iterations, repeats, refresh, refresh_every, state_bound, "
            "range_check, ring_dim, max_depth, bootstrap_depth, bootstrap_slots") in msg


@pytest.mark.parametrize("library, old, new", [
    ("tenseal", "poly_modulus_degree", "ring_dim"), ("tenseal", "processes", "workers"),
    ("openfhe", "threads", "workers"), ("plaintext", "slots", "ring_dim"),
])
def test_old_key_names_are_refused_naming_the_new_one(library, old, new):
    msg = invalid(lambda c: c["backends"].update(b={"library": library, old: 2}))
    assert f"backends.b.{old}: this key was renamed; use {new}" in msg


def test_bad_enum_value_lists_allowed_values():
    msg = invalid(lambda c: c["backends"]["plaintext"].update(ring_dim=1000))
    assert msg.startswith("backends.plaintext.ring_dim: 1000 is not allowed; allowed values: 16, 32, 64,")
    assert "32768" in msg


def test_wrong_type_names_the_key():
    msg = invalid(lambda c: c["backends"]["plaintext"].update(iterations="two"))
    assert "backends.plaintext.iterations" in msg and "'two'" in msg


def test_unknown_library_lists_registered_libraries():
    msg = invalid(lambda c: c["backends"].update(seal={"library": "seal"}))
    assert msg == ("backends.seal.library: unknown library 'seal'; "
                   f"allowed values: {', '.join(registry.libraries())}")


def test_experiment_naming_an_unknown_dataset():
    msg = invalid(lambda c: c["experiments"][0]["datasets"].append("mnist"))
    assert msg == "experiments[0].datasets[1]: unknown dataset 'mnist'; defined datasets: digits"


def test_experiment_naming_an_unknown_backend():
    msg = invalid(lambda c: c["experiments"].append({"datasets": ["digits"], "backends": ["seal"]}))
    assert msg == ("experiments[1].backends[0]: unknown backend 'seal'; defined backends: "
                   "plaintext, tenseal, openfhe, concrete, concrete-sim")


def test_bad_dataset_source_lists_sources():
    msg = invalid(lambda c: c["datasets"]["digits"].update(source="mnist"))
    assert msg == "datasets.digits.source: 'mnist' is not allowed; allowed values: digits, features_csv, mnist_regnet"


def test_unknown_dataset_key_lists_the_keys_of_its_source():
    msg = invalid(lambda c: c["datasets"]["digits"].update(n_test=100))
    assert msg == "datasets.digits.n_test: unknown key; allowed keys at datasets.digits: source, n_train, standardize"


def test_single_csv_needs_both_row_ranges():
    msg = invalid(lambda c: c["datasets"].update(csv={"source": "features_csv", "path": "f.csv", "train_rows": [0, 8]}))
    assert msg.startswith("datasets.csv: missing required key(s) test_rows")


def test_row_range_must_be_a_pair():
    msg = invalid(lambda c: c["datasets"].update(
        csv={"source": "features_csv", "path": "f.csv", "train_rows": [0, 8, 9], "test_rows": [8, 9]}))
    assert "datasets.csv.train_rows" in msg


def test_names_cannot_hold_slashes():
    msg = invalid(lambda c: c["backends"].update({"a/b": {"library": "plaintext"}}))
    assert "backends: name 'a/b' is not allowed" in msg


def test_every_problem_is_reported_at_once():
    def mutate(c):
        c["backends"]["plaintext"].update(ring_dim=1000, typo=1)
        c["experiments"][0]["datasets"].append("nope")

    lines = invalid(mutate).splitlines()
    assert len(lines) == 3
    assert any(line.startswith("experiments[0].datasets[1]") for line in lines)


def test_load_config_reports_bad_yaml_and_missing_files(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("datasets: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="cannot read the config file"):
        load_config(tmp_path / "missing.yaml")
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config(empty)


# --------------------------------------------------------------------------------------- jobs


def test_train_jobs_are_the_cross_products_each_once():
    cfg = validate_config({
        "datasets": {"a": {"source": "digits"}, "b": {"source": "digits", "n_train": 64}},
        "backends": {"p": {"library": "plaintext"}, "q": {"library": "plaintext", "ring_dim": 4096, "iterations": 5}},
        "experiments": [{"datasets": ["a", "b"], "backends": ["p"]}, {"datasets": ["a"], "backends": ["p", "q"]}],
    })
    assert train_jobs(cfg) == [("a", "mlr", "p"), ("b", "mlr", "p"), ("a", "mlr", "q")]
    assert backend_params(cfg, "q") == {"library": "plaintext", "ring_dim": 4096, "max_depth": 64,
                                        "bootstrap_depth": 16, "bootstrap_slots": None,
                                        "rotation_keys": "per_step"}
    assert (backend_iterations(cfg, "p"), backend_iterations(cfg, "q")) == (2, 5)


# ----------------------------------------------------------------- jobs checked from the shapes


def _one_job(backend: dict, iterations: int = 2) -> dict:
    return {"iterations": iterations, "datasets": {"d": {"source": "digits", "n_train": 128}},
            "backends": {"b": backend}, "experiments": [{"datasets": ["d"], "backends": ["b"]}]}


@pytest.mark.parametrize("backend, iterations, problem", [
    # rows per ciphertext < K: 8 rows of 128 columns cannot hold 10 weight rows
    ({"library": "plaintext", "ring_dim": 2048}, 2, "too few for the K=10 weight rows; use a larger ring_dim"),
    # 3 iterations need depth 20; the 128-bit modulus bound of ring 32768 holds 19 at 40 bits
    ({"library": "tenseal", "ring_dim": 32768}, 3,
     "3 iterations need multiplicative depth 20, but the parameters hold at most 19 levels; use refresh"),
    ({"library": "openfhe", "ring_dim": 32768}, 3,
     "3 iterations need multiplicative depth 20, but the parameters hold at most 14 levels; use refresh"),
    ({"library": "openfhe", "ring_dim": 1024}, 2, "ring_dim 1024 cannot hold a single multiplicative level"),
    ({"library": "openfhe", "scale_bits": 50, "first_mod_bits": 50}, 2,
     "backends.b: first_mod_bits (50) must exceed scale_bits (50)"),
    ({"library": "concrete", "n_components": 100}, 1, "n_components 100 exceeds what PCA can give"),
])
def test_jobs_that_cannot_run_are_refused_at_validation(backend, iterations, problem):
    with pytest.raises(ConfigError) as info:
        validate_config(_one_job(backend, iterations))
    assert problem in str(info.value)


def test_job_problems_name_the_backend_and_the_dataset_shape():
    with pytest.raises(ConfigError) as info:
        validate_config(_one_job({"library": "plaintext", "ring_dim": 2048}))
    assert str(info.value).startswith("backends.b with workloads.mlr on datasets.d (128 samples, 64 features, 10 classes): ")


def test_every_problem_of_every_kind_in_one_message():
    cfg = _one_job({"library": "plaintext", "ring_dim": 2048})
    cfg["backends"]["t"] = {"library": "tenseal", "scale_bits": 10}
    cfg["datasets"]["e"] = {"source": "digits", "n_tain": 5}
    cfg["experiments"].append({"datasets": ["nope"], "backends": ["b"]})
    lines = invalid_config(cfg).splitlines()
    assert any(line.startswith("backends.t.scale_bits: 10 is less than the minimum") for line in lines)
    assert any(line.startswith("datasets.e.n_tain: unknown key") for line in lines)
    assert any(line.startswith("experiments[1].datasets[0]: unknown dataset 'nope'") for line in lines)
    assert any(line.startswith("backends.b with workloads.mlr on datasets.d") for line in lines)
    assert len(lines) == 4


def invalid_config(cfg: dict) -> str:
    with pytest.raises(ConfigError) as info:
        validate_config(cfg)
    return str(info.value)


def test_a_missing_csv_is_left_to_the_data_stage(tmp_path: Path):
    cfg = _one_job({"library": "plaintext"})
    cfg["datasets"]["d"] = {"source": "features_csv", "path": str(tmp_path / "absent.csv"),
                            "train_rows": [0, 8], "test_rows": [8, 9]}
    assert validate_config(cfg)["datasets"]["d"]["path"].endswith("absent.csv")

