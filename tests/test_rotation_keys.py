"""Rotation keys for powers of two only (``rotation_keys: power_of_two``): any step is the sum
of its non-adjacent form's signed powers of two, a workload trains the same weights with fewer
keys, and every composed key switch is counted."""
from __future__ import annotations

import numpy as np
import pytest

from backends.base import signed_digits
from backends.plaintext import PlaintextBackend
from hemlr.session import open_session, plan_for
from hemlr.workloads import make_workload


@pytest.mark.parametrize("step", [*range(-70, 71), 255, -4097, 16383, 5461])
def test_signed_digits_are_a_non_adjacent_form(step: int) -> None:
    digits = signed_digits(step)
    assert sum(digits) == step
    exponents = sorted(abs(d).bit_length() - 1 for d in digits)
    assert all(abs(d) == 1 << e for d, e in zip(sorted(digits, key=abs), exponents))
    assert all(b - a >= 2 for a, b in zip(exponents, exponents[1:])), digits  # no two adjacent
    assert len(digits) <= bin(abs(step)).count("1")  # never more than the binary form


def test_power_of_two_keys_train_the_same_weights_with_fewer_keys() -> None:
    rng = np.random.default_rng(0)
    X, y = rng.uniform(0, 3, (37, 6)), np.arange(37) % 3
    diagonal = make_workload({"workload": "mlr", "layout": "diagonal"})
    runs = {}
    for keys in ("per_step", "power_of_two"):
        he = PlaintextBackend(ring_dim=1024, rotation_keys=keys)
        session = open_session(he, X, y, 3, 2, workload=diagonal)
        runs[keys] = (list(session), session.layout()["rotation_keys"])
    (direct, n_direct), (composed, n_composed) = runs["per_step"], runs["power_of_two"]
    for a, b in zip(direct, composed):
        np.testing.assert_array_equal(a.weights, b.weights)
    assert n_composed < n_direct
    assert composed[-1].ops["rotation"] > direct[-1].ops["rotation"]


def test_paper_shape_needs_half_the_keys_in_the_diagonal_layout() -> None:
    """At ring 65536 (bootstrap runs) the diagonal layout declares 46 steps; their non-adjacent
    forms use 24 signed powers of two, the paper layout's count (25)."""
    counts = {}
    for layout in ("paper", "diagonal"):
        for keys in ("per_step", "power_of_two"):
            he = PlaintextBackend(ring_dim=65536, max_depth=25, bootstrap_slots=16384, rotation_keys=keys)
            plan = plan_for(make_workload({"workload": "mlr", "layout": layout}), he, 128, 400, 10, 20, "bootstrap")
            counts[layout, keys] = len(he.key_steps(plan.rotation_steps))
    assert counts == {("paper", "per_step"): 25, ("paper", "power_of_two"): 24,
                      ("diagonal", "per_step"): 46, ("diagonal", "power_of_two"): 24}
