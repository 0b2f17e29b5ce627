"""Packaging: a wheel (a non-editable install) holds both packages and the config schema."""
from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SCHEMA = "hemlr/schemas/config.schema.yaml"
# The wheel is built from a copy of the working tree: the build then leaves no build/ or
# egg-info behind in the repository, and no stale file of an earlier build/lib gets in.
SKIP_AT_TOP = {".git", ".venv", "build", "dist", "results", "reports", "data", ".snakemake", ".pytest_cache"}

pytestmark = pytest.mark.slow


def _skip(directory: str, names: list[str]) -> set[str]:
    skip = {n for n in names if n == "__pycache__" or n.endswith(".egg-info")}
    return skip | (SKIP_AT_TOP & set(names) if Path(directory) == REPO else set())


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> tuple[zipfile.ZipFile, Path]:
    """The wheel, and the copy of the tree it was built from."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(REPO, src, symlinks=True, ignore=_skip)
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp / "dist"), "."],
        cwd=src, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"pip wheel failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    (path,) = (tmp / "dist").glob("hemlr_bench-*.whl")
    with zipfile.ZipFile(path) as zf:
        yield zf, src


def test_wheel_holds_the_config_schema(wheel: tuple[zipfile.ZipFile, Path]):
    zf, src = wheel
    assert SCHEMA in zf.namelist()
    data = zf.read(SCHEMA)
    assert data == (src / SCHEMA).read_bytes()
    assert isinstance(yaml.safe_load(data), dict)


@pytest.mark.parametrize("package", ["hemlr", "backends"])
def test_wheel_holds_every_module_of_the_package(wheel: tuple[zipfile.ZipFile, Path], package: str):
    zf, src = wheel
    modules = {p.relative_to(src).as_posix() for p in (src / package).rglob("*.py")}
    assert f"{package}/__init__.py" in modules
    assert sorted(modules - set(zf.namelist())) == []
