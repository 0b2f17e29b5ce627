"""Tests for hemlr.config: validation messages, defaults, jobs and dataset input manifests."""
from __future__ import annotations

import copy
import hashlib
from pathlib import Path

import pytest
import yaml

from backends import registry
from hemlr import data
from hemlr.config import (SCHEMA_PATH, ConfigError, backend_iterations, backend_params, dataset_files,
                          dataset_manifest, load_config, train_jobs, validate_config)

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
    assert cfg["datasets"]["digits"] == {"source": "digits", "n_train": 128}
    # The adapter's schema fills its own defaults.
    assert cfg["backends"]["plaintext"] == {"library": "plaintext", "slots": 16384, "max_depth": 64}
    assert DEFAULT["backends"]["plaintext"] == {"library": "plaintext"}  # the input is not modified


def test_minimal_config_gets_top_level_defaults():
    cfg = validate_config({"datasets": {"d": {"source": "digits"}}, "backends": {"p": {"library": "plaintext"}},
                           "experiments": [{"datasets": ["d"], "backends": ["p"]}]})
    assert (cfg["run"], cfg["iterations"], cfg["features_dir"]) == ("default", 2, "results/features")
    assert cfg["datasets"]["d"]["n_train"] == 128


@pytest.mark.parametrize("path", sorted((REPO / "workflow" / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_named_configs_validate(path: Path):
    cfg = load_config(path)
    assert cfg["run"] == path.stem
    assert train_jobs(cfg)


def test_mnist_regnet_defaults_match_the_loader():
    cfg = validate_config({**DEFAULT, "datasets": {"m": {"source": "mnist_regnet", "mnist_root": "data/mnist"}},
                           "experiments": [{"datasets": ["m"], "backends": ["plaintext"]}]})
    assert cfg["datasets"]["m"] == {"source": "mnist_regnet", "mnist_root": "data/mnist", "download": False,
                                    "weights": None, "torch_home": None, "n_train": 128, "n_test": None,
                                    "batch_size": 64}


def test_schema_sources_are_hemlr_data_sources():
    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    sources = schema["properties"]["datasets"]["additionalProperties"]["properties"]["source"]["enum"]
    assert tuple(sources) == data.SOURCES
    assert all(f"dataset_{s}" in schema["definitions"] for s in sources)


# ------------------------------------------------------------------------------------- errors


def test_unknown_top_level_key_lists_allowed_keys():
    msg = invalid(lambda c: c.update(iteration=3))
    assert "iteration: unknown key" in msg
    assert "allowed keys at <top level>: run, iterations, features_dir, datasets, backends, experiments" in msg


def test_unknown_backend_key_lists_adapter_and_harness_keys():
    msg = invalid(lambda c: c["backends"]["plaintext"].update(poly_modulus_degree=8192))
    assert "backends.plaintext.poly_modulus_degree: unknown key" in msg
    assert "allowed keys at backends.plaintext: library, slots, max_depth, iterations" in msg


def test_bad_enum_value_lists_allowed_values():
    msg = invalid(lambda c: c["backends"]["plaintext"].update(slots=1000))
    assert msg.startswith("backends.plaintext.slots: 1000 is not allowed; allowed values: 8, 16, 32,")
    assert "16384" in msg


def test_wrong_type_names_the_key():
    msg = invalid(lambda c: c["backends"]["plaintext"].update(iterations="two"))
    assert "backends.plaintext.iterations" in msg and "'two'" in msg


def test_unknown_library_lists_registered_libraries():
    msg = invalid(lambda c: c["backends"].update(seal={"library": "seal"}))
    assert msg == ("backends.seal.library: unknown library 'seal'; "
                   f"allowed values: {', '.join(registry.LIBRARIES)}")


def test_library_whose_adapter_cannot_be_imported(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(registry.LIBRARIES, "ghost", "backends.no_such_adapter:GhostBackend")
    msg = invalid(lambda c: c["backends"].update(ghost={"library": "ghost"}))
    assert msg.startswith("backends.ghost.library: the adapter for library 'ghost' cannot be imported")
    assert "no_such_adapter" in msg


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
    assert msg == "datasets.digits.n_test: unknown key; allowed keys at datasets.digits: source, n_train"


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
        c["backends"]["plaintext"].update(slots=1000, typo=1)
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
        "backends": {"p": {"library": "plaintext"}, "q": {"library": "plaintext", "slots": 1024, "iterations": 5}},
        "experiments": [{"datasets": ["a", "b"], "backends": ["p"]}, {"datasets": ["a"], "backends": ["p", "q"]}],
    })
    assert train_jobs(cfg) == [("a", "p"), ("b", "p"), ("a", "q")]
    assert backend_params(cfg, "q") == {"library": "plaintext", "slots": 1024, "max_depth": 64}
    assert (backend_iterations(cfg, "p"), backend_iterations(cfg, "q")) == (2, 5)


# ---------------------------------------------------------------------------- dataset manifest


def test_digits_manifest_records_sklearn():
    manifest = dataset_manifest("digits", {"source": "digits", "n_train": 128})
    assert manifest["images"] == 1797 and manifest["sklearn_version"]


def test_features_csv_manifest_hashes_and_counts_rows(tmp_path: Path):
    csv = tmp_path / "f.csv"
    csv.write_text("1.0,0.5,0.25\r\n0.0,0.1,0.2\r\n2.0,0.3,0.4\r\n\r\n")
    spec = {"source": "features_csv", "path": str(csv), "train_rows": [0, 2], "test_rows": [2, 3]}
    (record,) = dataset_manifest("f", spec)["files"]
    assert record["rows"] == 3
    assert record["sha256"] == hashlib.sha256(csv.read_bytes()).hexdigest()
    assert dataset_files(spec) == [str(csv)]


def test_features_csv_manifest_names_a_missing_file(tmp_path: Path):
    spec = {"source": "features_csv", "path": str(tmp_path / "f.csv"), "test_path": str(tmp_path / "t.csv")}
    assert dataset_files(spec) == []  # left to the manifest, which says what is missing
    with pytest.raises(data.DataError, match=r"f\.csv: file not found"):
        dataset_manifest("f", spec)


def test_mnist_manifest_fails_with_hemlr_data_message(tmp_path: Path):
    spec = {"source": "mnist_regnet", "mnist_root": str(tmp_path), "download": False, "weights": None,
            "torch_home": str(tmp_path), "n_train": 128, "n_test": None, "batch_size": 64}
    with pytest.raises(data.DataError, match="MNIST files not found"):
        dataset_manifest("m", spec)
