"""docs/configuration.md is what the schemas say today."""
from __future__ import annotations

from pathlib import Path

from hemlr.configdoc import render

DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def test_configuration_reference_is_current() -> None:
    assert DOC.read_text() == render(), "docs/configuration.md is stale: run `python -m hemlr.configdoc > docs/configuration.md`"


def test_every_key_of_every_owner_is_documented() -> None:
    text = render()
    for key in ("`ring_dim`", "`refresh`", "`n_train`", "`train_rows`", "`include_datasets`", "`workloads`",
                "### `workload: mlr`", "### `source: features_csv`", "### `library: openfhe`"):
        assert key in text, key
