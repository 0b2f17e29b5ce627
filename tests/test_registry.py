"""The registry lists every backend, and a missing library is reported, not raised at import."""
from __future__ import annotations

import subprocess
import sys

import pytest

from backends import registry
from backends.base import BackendError

#: library -> (top-level module the adapter imports, the install hint it must give)
MODULES = {
    "tenseal": ("tenseal", "tenseal==0.3.16"),
    "openfhe": ("openfhe", "openfhe==1.6.1.0.22.4"),
    "concrete": ("concrete", "concrete-ml==1.9.0"),
}


def test_the_project_adapters_are_discovered() -> None:
    assert {"plaintext", *MODULES} <= set(registry.libraries())
    assert registry.broken_modules() == {}


def test_unknown_library() -> None:
    with pytest.raises(BackendError, match=f"allowed: {', '.join(registry.libraries())}"):
        registry.backend_class("seal")


@pytest.mark.parametrize("library", sorted(MODULES))
def test_missing_library_is_reported(library: str) -> None:
    module, hint = MODULES[library]
    code = (f"import sys; sys.modules[{module!r}] = None\n"
            "from backends import registry\n"
            "from backends.base import BackendError\n"
            f"print(registry.unavailable_reason({library!r}))\n"
            f"try:\n    registry.make_backend({{'library': {library!r}}})\n"
            "except BackendError as e:\n    print('raised', e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert f"{library} backend unavailable" in out and hint in out
    assert f"raised {library} backend unavailable" in out


def test_finding_the_adapters_loads_no_library() -> None:
    """A job of one library must not carry another's code or memory (OpenFHE's import alone
    raised a TenSEAL job's peak RSS by 1 GB), so adapters import their library on use."""
    code = ("import sys\nfrom backends import registry\n"
            "assert len(registry.libraries()) >= 4\n"
            "print(sorted(m for m in ('tenseal', 'openfhe', 'concrete', 'torch', 'sklearn') if m in sys.modules))\n"
            "registry.make_backend({'library': 'tenseal', 'ring_dim': 8192})\n"
            "print(sorted(m for m in ('tenseal', 'openfhe', 'concrete', 'torch', 'sklearn') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["[]", "['tenseal']"]
