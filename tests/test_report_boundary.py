"""The report wing imports nothing from the backends or the training code: the results table
is the only thing joining them. Every module of hemlr/report/ is parsed with ast (nothing is
imported) and its imports of project modules followed transitively, the __init__ of every
package on the way included (importing a submodule runs them)."""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REPORT = sorted((REPO / "hemlr" / "report").glob("*.py"))

#: what the report must never reach, with everything below each
FORBIDDEN = ("backends", "hemlr.workloads", "hemlr.session", "hemlr.experiment", "hemlr.config", "hemlr.grids",
             "hemlr.sources", "hemlr.microbenchmark", "hemlr.costmodel")
#: what a module of hemlr/report/ may import besides the standard library (with everything below each)
ALLOWED = ("numpy", "pandas", "matplotlib", "jinja2", "hemlr.columns", "hemlr.pricing", "hemlr.stats", "hemlr.report")


def source(module: str) -> Path | None:
    """The file of project ``module`` (a package's __init__.py); None for other modules and
    for names that are no module (a function imported from its module)."""
    base = REPO.joinpath(*module.split("."))
    return next((p for p in (base.with_suffix(".py"), base / "__init__.py") if p.is_file()), None)


def module_of(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(module: str) -> set[str]:
    """The modules ``module``'s statements import, anywhere in it: relative imports resolved,
    ``from p import n`` counted as p and, when it is a module, p.n."""
    path = source(module)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            anchor = ".".join(package.split(".")[:len(package.split(".")) + 1 - node.level]) if node.level else ""
            base = ".".join(p for p in (anchor, node.module) if p)
            found |= {base} | {f"{base}.{alias.name}" for alias in node.names if source(f"{base}.{alias.name}")}
    return found


def parents(module: str) -> list[str]:
    """``module`` and the packages above it, whose __init__ importing it runs: a.b.c -> a, a.b, a.b.c."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def reached(module: str) -> set[str]:
    """Every module that importing ``module`` imports, following project modules transitively."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        for name in parents(todo.pop()):
            if name not in seen:
                seen.add(name)
                todo += sorted(imports(name)) if source(name) else []
    return seen


def under(module: str, roots: tuple[str, ...]) -> bool:
    return any(module == root or module.startswith(root + ".") for root in roots)


def forbidden(module: str) -> list[str]:
    return sorted(m for m in reached(module) if under(m, FORBIDDEN))


def test_the_report_is_a_package_of_modules():
    assert {p.name for p in REPORT} >= {"__init__.py", "tables.py", "plots.py", "sections.py", "markdown.py",
                                        "html.py"}
    assert not (REPO / "hemlr" / "report.py").exists() and not (REPO / "hemlr" / "html_report.py").exists()


@pytest.mark.parametrize("path", REPORT, ids=lambda p: p.name)
def test_the_report_reaches_no_backend_and_no_training_code(path: Path):
    assert forbidden(module_of(path)) == []


@pytest.mark.parametrize("path", REPORT, ids=lambda p: p.name)
def test_the_report_imports_only_what_it_may(path: Path):
    module = module_of(path)
    # the packages above an allowed module run their __init__ only
    packages = {p for allowed in ALLOWED for p in parents(allowed)[:-1]}
    odd = sorted(m for m in imports(module) if m.split(".")[0] not in sys.stdlib_module_names
                 and not under(m, ALLOWED) and m not in packages)
    assert odd == []


def test_the_check_finds_the_backends_behind_the_training_code():
    """Negative control: the same walk from the training job reaches the backends."""
    found = forbidden("hemlr.experiment")
    assert any(under(m, ("backends",)) for m in found)
    assert "hemlr.workloads" in found and "hemlr.session" in found


def test_the_walk_resolves_relative_and_from_imports():
    assert {"hemlr.columns", "hemlr.pricing", "hemlr.report.jobs"} <= imports("hemlr.report.tables")
    assert {"hemlr", "hemlr.report"} <= reached("hemlr.report.tables")
