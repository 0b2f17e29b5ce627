"""The nn2h reference against PyTorch autograd, and nn.md's reference values."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hemlr.sources.features_csv import load_features_csv
from hemlr.workloads.mlr.plan import design_matrix
from hemlr.workloads.mlr.reference import SIG3_A, SIG3_B
from hemlr.workloads.nn2h.reference import (
    MONOTONE_LIMIT, NNParams, gradients, init_weights, scores, standardize, standardizer,
    train_reference)

SMALL = dict(n=24, f=12, hidden=(8, 4), k=3)
DEFAULT = dict(n=64, f=400, hidden=(32, 16), k=10)


def _synthetic(n: int, f: int, k: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Non-negative features with a class signal (like post-ReLU RegNet outputs) and one constant
    feature (its scale hits the 0.1 floor)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    X = np.abs(rng.normal(size=(n, f))) + 0.5 * (np.arange(f) % k == y[:, None])
    X[:, 1] = 2.0
    return X, y


# ---------------------------------------------------------------- an independent torch model
def _sig(z: torch.Tensor) -> torch.Tensor:
    return 0.5 + SIG3_A * z + SIG3_B * z ** 3


class _LogisticDerivativeSig(torch.autograd.Function):
    """The cubic forward, but sigma(1 - sigma) as its derivative: a negative control."""

    @staticmethod
    def forward(ctx, z):
        s = _sig(z)
        ctx.save_for_backward(s)
        return s

    @staticmethod
    def backward(ctx, grad):
        (s,) = ctx.saved_tensors
        return grad * s * (1 - s)


def _torch_z0(X: np.ndarray) -> torch.Tensor:
    """nn.md's standardisation written again in torch: population std, floored at 0.1."""
    x = torch.tensor(X, dtype=torch.float64)
    x = (x - x.mean(0)) / x.std(0, unbiased=False).clamp(min=0.1)
    return torch.cat([torch.ones(len(x), 1, dtype=torch.float64), x], dim=1)


def _torch_grads(Ws: list[np.ndarray], X: np.ndarray, y: np.ndarray, k: int,
                 loss: str = "cubic", hidden_sig=_sig) -> list[np.ndarray]:
    Z0 = _torch_z0(X)
    Y = F.one_hot(torch.tensor(y), k).to(torch.float64)
    n = len(y)
    Wt = [torch.tensor(W, requires_grad=True) for W in Ws]
    a = Z0
    for W in Wt[:-1]:
        a = torch.cat([hidden_sig(a @ W.T), torch.ones(n, 1, dtype=torch.float64)], dim=1)
    z3 = a @ Wt[-1].T
    if loss == "cubic":
        J = (0.5 * z3 + SIG3_A * z3 ** 2 / 2 + SIG3_B * z3 ** 4 / 4 - Y * z3).sum() / n
    elif loss == "bce":
        J = F.binary_cross_entropy(_sig(z3), Y, reduction="sum") / n
    else:
        J = F.binary_cross_entropy_with_logits(z3, Y, reduction="sum") / n
    J.backward()
    return [W.grad.numpy() for W in Wt]


def _numpy_grads(Ws: list[np.ndarray], X: np.ndarray, y: np.ndarray, k: int) -> list[np.ndarray]:
    return gradients(Ws, design_matrix(standardize(X, *standardizer(X))), np.eye(k)[y])[0]


def _rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


# ---------------------------------------------------------------- autograd agreement
@pytest.mark.parametrize("shape", [SMALL, DEFAULT], ids=["small", "default"])
def test_gradients_match_autograd_of_the_cubic_loss(shape) -> None:
    X, y = _synthetic(shape["n"], shape["f"], shape["k"])
    Ws = init_weights(shape["f"], shape["k"], shape["hidden"])
    for got, want in zip(_numpy_grads(Ws, X, y, shape["k"]), _torch_grads(Ws, X, y, shape["k"])):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10 * np.abs(want).max())


@pytest.mark.parametrize("shape", [SMALL, DEFAULT], ids=["small", "default"])
def test_twenty_steps_match_torch(shape) -> None:
    """The same update (per-layer rates, decay) driven by autograd gradients stays within 1e-9."""
    X, y = _synthetic(shape["n"], shape["f"], shape["k"])
    params = NNParams(hidden=shape["hidden"])
    steps = train_reference(X, y, shape["k"], 20, params)
    Ws = init_weights(shape["f"], shape["k"], params.hidden, params.seed)
    for t, step in enumerate(steps, start=1):
        Gs = _torch_grads(Ws, X, y, shape["k"])
        Ws = [W - eta * params.gain(t) * G for W, G, eta in zip(Ws, Gs, params.rates)]
        for got, want in zip(step.weights, Ws):
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9 * np.abs(want).max())


@pytest.mark.parametrize("control", ["bce", "bce_with_logits", "logistic_derivative"])
def test_negative_controls_differ(control) -> None:
    """Each wrong model must miss the reference far beyond the 1e-10 tolerance."""
    X, y = _synthetic(**{k: SMALL[k] for k in ("n", "f", "k")})
    Ws = init_weights(SMALL["f"], SMALL["k"], SMALL["hidden"])
    ours = _numpy_grads(Ws, X, y, SMALL["k"])
    if control == "logistic_derivative":
        theirs = _torch_grads(Ws, X, y, SMALL["k"], hidden_sig=_LogisticDerivativeSig.apply)
        assert _rel_diff(ours[2], theirs[2]) < 1e-10  # the output layer does not see sigma'
        layers = (0, 1)
    else:
        theirs = _torch_grads(Ws, X, y, SMALL["k"], loss=control)
        layers = (0, 1, 2)
    diffs = [_rel_diff(ours[l], theirs[l]) for l in layers]
    print(control, ["%.3g" % d for d in diffs])
    assert min(diffs) > 1e-2


# ---------------------------------------------------------------- initialisation
def test_init_follows_the_written_rule() -> None:
    Ws = init_weights(400, 10)
    rng = np.random.default_rng(0)
    for W, (n_in, n_out), bias in zip(Ws, [(401, 32), (33, 16), (17, 10)], (0, 32, 16)):
        assert W.shape == (n_out, n_in)
        a = math.sqrt(6 / (n_in + n_out))
        want = rng.uniform(-a, a, size=(n_out, n_in))
        want[:, bias] = 0.0
        assert np.array_equal(W, want)
        assert not W[:, bias].any() and np.abs(W).max() <= a


def test_init_is_reproducible_by_seed() -> None:
    same = init_weights(12, 3, (8, 4), seed=5), init_weights(12, 3, (8, 4), seed=5)
    other = init_weights(12, 3, (8, 4), seed=6)
    assert all(np.array_equal(a, b) for a, b in zip(*same))
    assert not any(np.array_equal(a, b) for a, b in zip(same[0], other))
    assert [W.shape for W in other] == [(8, 13), (4, 9), (3, 5)]


def test_standardizer_floors_the_scale() -> None:
    X, _ = _synthetic(24, 12, 3)
    mu, s = standardizer(X)
    assert s[1] == 0.1 and np.allclose(s[0], X[:, 0].std())
    Xs = standardize(X, mu, s)
    assert np.allclose(Xs.mean(0), 0) and np.allclose(Xs[:, 0].std(), 1)


# ---------------------------------------------------------------- nn.md's reference values
def _first512(reference_csv):
    """Rows 0..127 are first128 (the MLR paper's training set), 128..511 held out."""
    return load_features_csv("first512", str(reference_csv("REGNET_X_400MF_MNIST_TRAININGfirst512.csv")),
                             train_rows=(0, 128), test_rows=(128, 512))


def test_reference_values_of_iteration_one(reference_csv) -> None:
    ds = _first512(reference_csv)
    step = train_reference(ds.X_train, ds.y_train, 10, 1)[0]
    norms = [np.linalg.norm(G) for G in step.Gs]
    assert norms == pytest.approx([0.0600466027, 0.3760409625, 2.7151597784], rel=1e-9)
    assert step.weights[0].sum() == pytest.approx(4.009004674257, rel=1e-9)


def test_accuracy_after_ten_iterations(reference_csv) -> None:
    """nn.md's 5-seed mean at iteration 10 is 0.32 train / 0.24 held-out; seed 0 near it."""
    ds = _first512(reference_csv)
    steps = train_reference(ds.X_train, ds.y_train, 10, 10)
    mu, s = standardizer(ds.X_train)
    train = np.mean(np.argmax(scores(steps[-1].weights, ds.X_train, mu, s), axis=1) == ds.y_train)
    held_out = np.mean(np.argmax(scores(steps[-1].weights, ds.X_test, mu, s), axis=1) == ds.y_test)
    last = steps[-1]
    print(f"seed 0, it. 10: train {train:.4f}, held-out {held_out:.4f}; max|z| per layer "
          f"{last.max_abs_z_per_layer}, share |z| > {MONOTONE_LIMIT:.3f}: {last.share_beyond_monotone}")
    assert train > 0.2 and held_out > 0.15
    assert last.max_abs_score == max(last.max_abs_z_per_layer)
    assert last.state_max_abs == max(np.abs(W).max() for W in last.weights)
