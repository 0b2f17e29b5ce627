"""The common HE interface: what every backend adapter offers the workloads and the harness.

An adapter is one module in ``backends/`` holding one concrete subclass of
:class:`CKKSBackend` (a CKKS library the paper's slot-level schedule runs on) or of
:class:`ModelBackend` (a library that trains a whole model itself). The registry finds
it; the conformance checks in ``backends/checks.py`` run on it; its ``PARAMS_SCHEMA``
is the only place its parameters are declared, checked here for every adapter alike.

For CKKS, the public methods do the bookkeeping once for every library: they count
operations, track each ciphertext's level, and refuse what a real deployment could not
do (a rotation without a generated key, a multiplication past the depth the keys were
made for). A workload only ever calls the public methods, so it never needs to know
which library is underneath.

Roles: a *client* instance is created with parameters, generates keys, encrypts and
decrypts. A *server* instance is built by :meth:`CKKSBackend.server_from_bytes` from
the bytes the client publishes (context and evaluation keys, no secret key) and
evaluates on ciphertexts deserialized from bytes.
"""
from __future__ import annotations

import abc
import multiprocessing
import os
from dataclasses import dataclass
from collections.abc import Mapping
from typing import Any, Callable, ClassVar, Iterable, Iterator, NamedTuple, Sequence, TypeVar

import numpy as np

from . import schema
from .ops import OpCounts, OpSnapshot
from .records import Description, IterationRecord

T = TypeVar("T")


class BackendError(RuntimeError):
    """A backend cannot do what was asked (missing library, bad parameters)."""


class ParameterError(BackendError, ValueError):
    """Parameters refused before anything is encrypted (security, depth, ring)."""


class DepthExceeded(BackendError):
    """A multiplication would go past the depth the keys were generated for."""


class MissingRotationKey(BackendError):
    """A rotation by a step whose Galois key was not generated."""


class NoSecretKey(BackendError):
    """Decryption or key generation asked of a server-side object."""


@dataclass
class Ciphertext:
    """A library ciphertext plus the level bookkeeping the interface keeps for it.

    ``level`` is the number of multiplicative levels consumed since encryption at
    level 0; the adapter's own object is in ``raw``.
    """

    raw: Any
    level: int


def default_workers(workers: int | None) -> int:
    """``workers``, or the job's threads (OMP_NUM_THREADS, set by the workflow), or every core."""
    if workers is not None:
        return int(workers)
    return int(os.environ.get("OMP_NUM_THREADS") or len(os.sched_getaffinity(0)))


#: which rotation keys a CKKS adapter makes: the one parameter every CKKS adapter's schema shares
ROTATION_KEYS_PARAM: dict[str, Any] = {
    "enum": ["per_step", "power_of_two"], "default": "per_step",
    "description": "per_step: a key for every rotation step the workload declares (one key switch "
                   "per rotation); power_of_two: keys only for the signed powers of two of the "
                   "steps' non-adjacent forms, any other step composed of them: fewer keys (each "
                   "~150 MB at ring 65536), more key switches (each counted as a rotation)"}


def signed_digits(step: int) -> list[int]:
    """The non-adjacent form of ``step``: the fewest signed powers of two that sum to it."""
    sign, n, k, out = (1 if step >= 0 else -1), abs(int(step)), 0, []
    while n:
        if n & 1:
            digit = 2 - (n & 3)  # +1 or -1: leaves a multiple of 4, so no two adjacent digits
            out.append(sign * digit << k)
            n -= digit
        n >>= 1
        k += 1
    return out


def import_error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class Adapter(abc.ABC):
    """What every adapter declares: its library, its parameters, tiny test parameters.

    An adapter module is cheap to import: it imports its HE library in ``load_library``,
    on first use, so that the registry can find every adapter on any machine without
    loading any library (a job of one library then carries no other library's code or
    memory), and a missing library is reported when it is used, with how to install it.
    """

    library: ClassVar[str]
    requirement: ClassVar[str] = ""
    #: JSON schema of the parameters (defaults included): the one place they are declared
    PARAMS_SCHEMA: ClassVar[dict] = {"type": "object", "additionalProperties": False, "properties": {}}
    #: old parameter name -> what replaced it
    RENAMED: ClassVar[dict[str, str]] = {}
    #: small, fast parameters for the conformance checks and tests (may be INSECURE)
    TEST_PARAMS: ClassVar[dict[str, Any]] = {}

    def __init__(self, **params: Any) -> None:
        reason = self.unavailable_reason()
        if reason:
            raise BackendError(reason)
        self.params = self.validate_params(params)

    @classmethod
    def load_library(cls) -> None:
        """Import the wrapped library into the adapter's module (raises when it cannot)."""

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """None when the library loads here, else why not and how to install it."""
        if "_unavailable" not in cls.__dict__:
            try:
                cls.load_library()
                cls._unavailable = None
            except Exception as exc:  # a wrong interpreter or glibc fails beyond ImportError
                cls._unavailable = (f"{cls.library} backend unavailable: {import_error_text(exc)}; "
                                    f"{cls.requirement}")
        return cls._unavailable

    @classmethod
    def param_problems(cls, params: dict[str, Any], prefix: Sequence[Any] = (),
                       extra_keys: Sequence[str] = ()) -> list[str]:
        """Check ``params`` in place (defaults filled); one message per problem."""
        out = schema.problems(params, cls.PARAMS_SCHEMA, prefix, extra_keys, cls.RENAMED)
        return out or [f"{schema.key_path(prefix)}: {p}" if prefix else p for p in cls.cross_problems(params)]

    @classmethod
    def cross_problems(cls, params: dict[str, Any]) -> list[str]:
        """Constraints between keys that a JSON schema cannot say (valid ``params``)."""
        return []

    @classmethod
    def validate_params(cls, params: dict[str, Any]) -> dict[str, Any]:
        """A checked copy of ``params`` with every default filled; ParameterError otherwise."""
        checked = dict(params)
        problems = cls.param_problems(checked)
        if problems:
            raise ParameterError(f"{cls.library}: " + "; ".join(problems))
        return checked

    @abc.abstractmethod
    def describe(self) -> Description:
        """What ran, for the report."""

    @classmethod
    @abc.abstractmethod
    def resources(cls, params: Mapping[str, Any], iterations: int) -> tuple[float, float]:
        """(peak MB, seconds) of one training of ``iterations`` with validated ``params``,
        before the workflow's margins: what a job asks SLURM for (--mem, -t)."""

    def _param_summary(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in sorted(self.params.items()))


class Resources(NamedTuple):
    """A CKKS adapter's measured resource estimate at ring 32768, growing linearly with the ring."""

    mb: float
    mb_per_ring: float
    setup_s: float
    iteration_s: float


class CKKSBackend(Adapter):
    """Base class of every CKKS adapter. See the module docstring for the roles.

    Subclasses set ``library``, ``PARAMS_SCHEMA`` (``ring_dim`` and, where they apply,
    the shared names ``scale_bits``, ``first_mod_bits``, ``security``, ``workers``) and
    ``TEST_PARAMS`` (which must hold the paper workload's 2-iteration depth of 14), and
    implement the abstract ``_`` methods.
    """

    mode: ClassVar[str] = "encrypted"  # or "exact" (plaintext reference)
    #: peak RSS and seconds of a training at ring 32768, each also per 32768 of ring_dim (MB)
    #: or per iteration (s); measured for the adapters here, generous for one that has none
    RESOURCES: ClassVar[Resources] = Resources(mb=9000, mb_per_ring=9000, setup_s=120, iteration_s=60)
    #: whether parallel_map forks worker processes (the microbenchmark then also times each
    #: primitive in concurrent processes)
    FORKING: ClassVar[bool] = False
    RENAMED: ClassVar[dict[str, str]] = {
        "poly_modulus_degree": "ring_dim", "slots": "ring_dim (= 2 x slots)",
        "processes": "workers", "threads": "workers"}

    # ---------------------------------------------------------------- primitives an adapter writes
    @abc.abstractmethod
    def _keygen(self, depth: int, steps: Sequence[int], bootstrap: bool) -> None: ...

    @abc.abstractmethod
    def _encrypt(self, values: np.ndarray) -> Any: ...

    @abc.abstractmethod
    def _decrypt(self, ct: Ciphertext) -> np.ndarray: ...

    @abc.abstractmethod
    def _public_bytes(self) -> bytes: ...

    @abc.abstractmethod
    def _load_public(self, data: bytes) -> None: ...

    @abc.abstractmethod
    def _serialize(self, ct: Ciphertext) -> bytes: ...

    @abc.abstractmethod
    def _deserialize(self, data: bytes) -> Any: ...

    @abc.abstractmethod
    def _add(self, a: Ciphertext, b: Ciphertext) -> Any: ...

    @abc.abstractmethod
    def _sub(self, a: Ciphertext, b: Ciphertext) -> Any: ...

    @abc.abstractmethod
    def _add_plain(self, a: Ciphertext, values: np.ndarray) -> Any: ...

    @abc.abstractmethod
    def _mul(self, a: Ciphertext, b: Ciphertext) -> Any: ...

    @abc.abstractmethod
    def _mul_plain(self, a: Ciphertext, values: np.ndarray) -> Any: ...

    @abc.abstractmethod
    def _mul_scalar(self, a: Ciphertext, value: float) -> Any: ...

    @abc.abstractmethod
    def _rotate(self, a: Ciphertext, step: int) -> Any: ...

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.ops = OpCounts()
        self.depth: int | None = None
        self.rotation_steps: frozenset[int] = frozenset()
        #: the steps whose rotation keys exist (key_steps of rotation_steps)
        self.keyed_steps: frozenset[int] = frozenset()
        self.is_server = False
        self.can_bootstrap = False
        #: worker processes for parallel_map (libraries that hold the GIL set this > 1)
        self.workers = 1

    # ---------------------------------------------------------------- properties
    @property
    def slots(self) -> int:
        """Number of CKKS slots of one ciphertext."""
        return int(self.params["ring_dim"]) // 2

    def max_depth(self) -> int:
        """Largest multiplicative depth these parameters can hold (before keygen)."""
        raise NotImplementedError

    def headroom_bits(self) -> int | None:
        """log2 of what the last level holds above the scale (values there must stay below
        2^that); None when the parameters bound nothing (the plaintext backend)."""
        return None

    @classmethod
    def resources(cls, params: Mapping[str, Any], iterations: int) -> tuple[float, float]:
        r, rings = cls.RESOURCES, params["ring_dim"] / 32768
        return r.mb + r.mb_per_ring * rings, (r.setup_s + r.iteration_s * iterations) * rings

    @classmethod
    def microbenchmark_seconds(cls, params: Mapping[str, Any]) -> float:
        """Seconds of the cost model's microbenchmark: a few samples of each primitive at each
        level, about two iterations' operations, twice when maps fork (timed concurrently too)."""
        return cls.resources(params, 2)[1] * (2 if cls.FORKING else 1)

    def depth_problem(self, depth: int) -> str | None:
        """Why ``depth`` does not fit these parameters, or None."""
        limit = self.max_depth()
        if depth <= limit:
            return None
        return (f"{self.library}: the workload needs multiplicative depth {depth}, but these "
                f"parameters ({self._param_summary()}) hold at most {limit} levels; use a "
                "larger ring_dim, fewer iterations or a larger modulus budget")

    def key_steps(self, steps: Iterable[int]) -> frozenset[int]:
        """The rotation keys that serve ``steps``: the steps themselves, or (rotation_keys:
        power_of_two) the signed powers of two their compositions use."""
        steps = frozenset(self.normalize_step(int(k)) for k in steps) - {0}
        if self.params["rotation_keys"] == "per_step":
            return steps
        return frozenset(self.normalize_step(d) for s in steps for d in signed_digits(s)) - {0}

    def key_sizes(self) -> dict[str, int]:
        """Bytes of the published context and evaluation keys by kind; {} before keygen."""
        return {}

    def external_bytes(self) -> int:
        """Bytes the client publishes in files beside ``public_bytes()`` (keys too large to
        pass through memory), part of what crosses to the server."""
        return 0

    # ---------------------------------------------------------------- client side
    def keygen(self, depth: int, rotation_steps: Iterable[int], bootstrap: bool = False) -> None:
        """Create the secret key and the evaluation keys the workload declared (with the
        bootstrapping keys when asked).

        Refuses, before anything is encrypted, a depth the parameters cannot hold.
        """
        steps = frozenset(self.normalize_step(int(k)) for k in rotation_steps) - {0}
        problem = self.depth_problem(depth)
        if problem:
            raise ParameterError(problem)
        self._require_bootstrap(bootstrap)
        if bootstrap and depth <= self.bootstrap_depth():
            # OpenFHE 1.6.1 crashes (SIGSEGV) making bootstrapping keys for such a chain
            raise ParameterError(f"{self.library}: bootstrapping keys need depth above the "
                                 f"{self.bootstrap_depth()} levels a bootstrap leaves consumed; got {depth}")
        self.depth = int(depth)
        self.rotation_steps, self.keyed_steps = steps, self.key_steps(steps)
        self.can_bootstrap = bootstrap
        self._keygen(self.depth, sorted(self.keyed_steps), bootstrap)

    def encrypt(self, values: np.ndarray) -> Ciphertext:
        values = np.asarray(values, dtype=np.float64)
        if values.shape != (self.slots,):
            raise ValueError(f"encrypt expects {self.slots} slot values, got shape {values.shape}")
        self._require_client("encrypt")
        self.ops.tally("encrypt", 0)
        return Ciphertext(self._encrypt(values), 0)

    def decrypt(self, ct: Ciphertext) -> np.ndarray:
        self._require_client("decrypt")
        self.ops.tally("decrypt", ct.level)
        return np.asarray(self._decrypt(ct), dtype=np.float64)[: self.slots]

    def public_bytes(self) -> bytes:
        """Context and evaluation keys (relinearisation, rotation), no secret key."""
        self._require_client("export the public context")
        return self._public_bytes()

    @classmethod
    def server_from_bytes(cls, data: bytes, depth: int, rotation_steps: Iterable[int],
                          bootstrap: bool = False, **params: Any) -> "CKKSBackend":
        """Build the evaluating side from the client's published bytes only."""
        server = cls(**params)
        server._require_bootstrap(bootstrap)
        server.is_server = True
        server.depth = int(depth)
        server.rotation_steps = frozenset(server.normalize_step(int(k)) for k in rotation_steps) - {0}
        server.keyed_steps = server.key_steps(server.rotation_steps)
        server.can_bootstrap = bootstrap
        server._load_public(data)
        return server

    # ---------------------------------------------------------------- bootstrapping
    def bootstrap_depth(self) -> int | None:
        """Levels a bootstrap leaves consumed (the level of its output); None when the
        library has no bootstrapping. What it restores is ``max_depth() - bootstrap_depth()``."""
        return None

    def bootstrap_slots(self) -> int | None:
        """The slot period a bootstrap works on: its input must repeat every that many
        slots (None: all slots)."""
        return None

    def bootstrap(self, ct: Ciphertext) -> Ciphertext:
        """A fresh-levelled encryption of the same values (|values| < 1, repeating every
        ``bootstrap_slots()``, one level left), at level ``bootstrap_depth()``."""
        if not self.can_bootstrap:
            raise BackendError(f"{self.library}: no bootstrapping keys (keygen(..., bootstrap=True))")
        if ct.level >= self.depth:
            raise DepthExceeded(f"{self.library}: a bootstrap's input needs one level left "
                                f"(it is rescaled first); got level {ct.level} of {self.depth}")
        self.ops.tally("bootstrap", ct.level)
        return Ciphertext(self._bootstrap(ct), self.bootstrap_depth())

    def _bootstrap(self, ct: Ciphertext) -> Any:
        raise NotImplementedError

    def _require_bootstrap(self, bootstrap: bool) -> None:
        if bootstrap and self.bootstrap_depth() is None:
            raise ParameterError(f"{self.library}: has no CKKS bootstrapping; use refresh: client")

    # ---------------------------------------------------------------- serialization
    def serialize(self, ct: Ciphertext) -> bytes:
        self.ops.tally("serialize", ct.level)
        return self._serialize(ct)

    def deserialize(self, data: bytes, level: int) -> Ciphertext:
        """Load a ciphertext; ``level`` is public metadata sent alongside it."""
        self.ops.tally("deserialize", level)
        return Ciphertext(self._deserialize(data), int(level))

    # ---------------------------------------------------------------- evaluation
    def add(self, a: Ciphertext, b: Ciphertext) -> Ciphertext:
        self._tally_binary("add", a, b)
        return Ciphertext(self._add(a, b), max(a.level, b.level))

    def sub(self, a: Ciphertext, b: Ciphertext) -> Ciphertext:
        self._tally_binary("add", a, b)
        return Ciphertext(self._sub(a, b), max(a.level, b.level))

    def add_plain(self, a: Ciphertext, values: np.ndarray | float) -> Ciphertext:
        self.ops.tally("add_plain", a.level)
        return Ciphertext(self._add_plain(a, self._as_slots(values)), a.level)

    def mul(self, a: Ciphertext, b: Ciphertext) -> Ciphertext:
        """Ciphertext x ciphertext, relinearised and rescaled (one level)."""
        level = self._next_level(max(a.level, b.level), "ciphertext multiplication")
        self._tally_binary("ct_mult", a, b)
        return Ciphertext(self._mul(a, b), level)

    def mul_plain(self, a: Ciphertext, values: np.ndarray) -> Ciphertext:
        """Ciphertext x plaintext slot vector (e.g. a 0/1 mask), rescaled (one level)."""
        level = self._next_level(a.level, "plaintext multiplication")
        self.ops.tally("pt_mult", a.level)
        return Ciphertext(self._mul_plain(a, self._as_slots(values)), level)

    def mul_scalar(self, a: Ciphertext, value: float) -> Ciphertext:
        """Ciphertext x real constant, rescaled (one level)."""
        level = self._next_level(a.level, "scalar multiplication")
        self.ops.tally("scalar_mult", a.level)
        return Ciphertext(self._mul_scalar(a, float(value)), level)

    def rotate(self, a: Ciphertext, step: int) -> Ciphertext:
        """Cyclic left rotation of the slot vector by ``step`` (negative = right)."""
        step = self.normalize_step(step)
        if step == 0:
            return a
        self._check_key(step)
        for digit in [step] if step in self.keyed_steps else signed_digits(step):
            digit = self.normalize_step(digit)
            if digit:
                self.ops.tally("rotation", a.level)
                a = Ciphertext(self._rotate(a, digit), a.level)
        return a

    def rotate_many(self, a: Ciphertext, steps: Sequence[int]) -> list[Ciphertext]:
        """Several rotations of one ciphertext; adapters may hoist the shared work (of the
        steps with a key of their own; the others are composed)."""
        norm = [self.normalize_step(s) for s in steps]
        for s in norm:
            if s:
                self._check_key(s)
        keyed = [s for s in norm if s in self.keyed_steps]
        if keyed:
            self.ops.tally("hoisted_rotation", a.level, len(keyed))
        it = iter(self._rotate_many(a, keyed) if keyed else [])
        return [a if s == 0 else Ciphertext(next(it), a.level) if s in self.keyed_steps
                else self.rotate(a, s) for s in norm]

    def add_many(self, cts: Sequence[Ciphertext]) -> Ciphertext:
        """Sum of several ciphertexts."""
        if not cts:
            raise ValueError("add_many needs at least one ciphertext")
        total = cts[0]
        for ct in cts[1:]:
            total = self.add(total, ct)
        return total

    def level(self, ct: Ciphertext) -> int:
        return ct.level

    def parallel_map(self, fn: Callable[[T], Ciphertext], items: Sequence[T]) -> list[Ciphertext]:
        """``[fn(x) for x in items]``, spread over ``self.workers`` forked processes.

        For libraries that never release the GIL. Workers are forked at the call, so
        they see the current ciphertexts and keys without pickling; results come
        back through this backend's own serialization and the workers' operation
        counts are added to this process's counters. Operations inside are counted with
        the width ``len(items)`` whether the map forks or not, so that counts made on one
        worker price a run on many.
        """
        global _FORK_JOB
        width, self.ops.width = self.ops.width, len(items)
        try:
            if self.workers <= 1 or len(items) <= 1:
                out = [fn(x) for x in items]
            else:
                _FORK_JOB = (self, fn, items)
                try:
                    ctx = multiprocessing.get_context("fork")
                    with ctx.Pool(min(self.workers, len(items))) as pool:
                        results = pool.map(_run_forked, range(len(items)), chunksize=1)
                finally:
                    _FORK_JOB = None
                out = []
                for blob, level, ops in results:
                    self.ops.merge(ops)
                    out.append(Ciphertext(self._deserialize(blob), level))  # counted as map_result
            for ct in out:
                self.ops.tally("map_result", ct.level)
        finally:
            self.ops.width = width
        return out

    # ---------------------------------------------------------------- helpers
    def normalize_step(self, step: int) -> int:
        """Map a rotation step into (-slots/2, slots/2] so k and k - slots share a key."""
        s = int(step) % self.slots
        return s - self.slots if s > self.slots // 2 else s

    def _check_key(self, step: int) -> None:
        if step not in self.rotation_steps:
            raise MissingRotationKey(
                f"{self.library}: no rotation key for step {step}; the workload declared "
                f"{sorted(self.rotation_steps)}")

    def _next_level(self, level: int, what: str) -> int:
        if self.depth is None:
            raise BackendError(f"{self.library}: keys not generated (call keygen first)")
        if level + 1 > self.depth:
            raise DepthExceeded(
                f"{self.library}: {what} at level {level} would exceed the declared "
                f"depth {self.depth}")
        return level + 1

    def _as_slots(self, values: np.ndarray | float) -> np.ndarray:
        arr = np.asarray(values, dtype=np.float64)
        if arr.ndim == 0:
            return np.full(self.slots, float(arr))
        if arr.shape != (self.slots,):
            raise ValueError(f"plaintext must have {self.slots} slots, got shape {arr.shape}")
        return arr

    def _tally_binary(self, kind: str, a: Ciphertext, b: Ciphertext) -> None:
        level = max(a.level, b.level)
        self.ops.tally(kind, level)
        if a.level != b.level:
            self.ops.tally("level_align", level)

    def _require_client(self, what: str) -> None:
        if self.is_server:
            raise NoSecretKey(f"{self.library}: the server side holds no secret key and cannot {what}")

    def _rotate_many(self, a: Ciphertext, steps: Sequence[int]) -> list[Any]:
        """Generic fallback: one independent rotation per step."""
        return [self._rotate(a, s) for s in steps]


class ModelBackend(Adapter):
    """A library that cannot run the slot-level schedule but trains a whole K-class
    model itself (Concrete ML's encrypted SGD): compared as a baseline in the same
    tables, never presented as the paper's algorithm."""

    #: the workloads (hemlr.workloads) whose tables this model stands in for
    WORKLOADS: ClassVar[tuple[str, ...]] = ()

    def shape_problems(self, n: int, f: int, n_classes: int, iterations: int) -> list[str]:
        """Why these parameters cannot train n samples of f features (before any work)."""
        return []

    @abc.abstractmethod
    def train(self, X: np.ndarray, y: np.ndarray, n_classes: int,
              iterations: int) -> Iterator[IterationRecord]:
        """Train on (X, y), yielding one IterationRecord per iteration."""


_FORK_JOB: tuple[CKKSBackend, Callable, Sequence] | None = None


def _run_forked(i: int) -> tuple[bytes, int, OpSnapshot]:
    """Body of a parallel_map worker (runs in a forked child)."""
    he, fn, items = _FORK_JOB
    before = he.ops.snapshot()
    ct = fn(items[i])
    return he._serialize(ct), ct.level, he.ops.since(before)  # counted as map_result
