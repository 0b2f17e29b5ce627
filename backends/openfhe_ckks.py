"""OpenFHE (openfhe-python) CKKS adapter.

Process-wide state: OpenFHE keeps evaluation keys in static maps keyed by the secret
key's tag, registers every crypto context in a global cache (a deserialized object is
bound to the registered context with equal parameters), and OpenMP's thread count is
per process. Several clients and servers may live in one process (tests, conformance
runs), so each instance keeps references to its own keys and thread count and installs
them whenever it becomes the active instance; ciphertexts that deserialize into another
instance's context are re-bound to this instance's context.

Levels: with FLEXIBLEAUTO, OpenFHE rescales lazily (right before the next
multiplication or at decryption). A product is at OpenFHE level L with noise-scale
degree 2; the levels it has consumed, ``GetLevel() + GetNoiseScaleDeg() - 1``, equal the
interface's ``Ciphertext.level``, and ``SetMultiplicativeDepth(d)`` allows exactly d
sequential multiplications, so the interface's depth is OpenFHE's depth (no off-by-one).
"""
from __future__ import annotations

import ctypes
import itertools
import json
import math
import os
import struct
import tempfile
import weakref
from typing import Any, ClassVar, Sequence

import numpy as np

from .base import ROTATION_KEYS_PARAM, BackendError, Ciphertext, CKKSBackend, ParameterError, Resources, default_workers
from .records import Description

# Imported by OpenFHEBackend.load_library on first use (see backends.base.Adapter).
ofhe: Any = None
_SECURITY = {  # config value -> OpenFHE's SecurityLevel
    128: "HEStd_128_classic",
    192: "HEStd_192_classic",
    256: "HEStd_256_classic",
    "none": "HEStd_NotSet",
}
_SCALING = ("FLEXIBLEAUTO", "FIXEDAUTO", "FIXEDMANUAL")
_SECRETS = {"uniform": "UNIFORM_TERNARY", "sparse": "SPARSE_TERNARY",
            "sparse_encapsulated": "SPARSE_ENCAPSULATED"}
#: depth probed at most by max_depth(); only reached with HEStd_NotSet
_DEPTH_CAP = 64
_MAGIC = b"HEMLR-OPENFHE-1\n"

#: (ring, scale, first, security, dnum, scaling) -> largest accepted depth
_MAX_DEPTH_CACHE: dict[tuple, int] = {}
#: the same parameters and a depth -> whether num_large_digits cannot split its towers
_SPLIT_REFUSED: dict[tuple, bool] = {}
_TOKENS = itertools.count(1)


class _Process:
    """Which instance's keys and thread count OpenFHE currently holds."""

    keys_owner: int | None = None
    threads: int | None = None
    omp_pid: int | None = None  # the process whose OpenMP runtime was set up


def _set_threads(n: int) -> None:
    """OpenFHE's ParallelControls::SetNumThreads, which openfhe-python does not expose.

    OpenFHE latches OMP_NUM_THREADS when it is loaded and passes its own limit as
    num_threads to every parallel region, so neither the environment variable nor
    omp_set_num_threads() alone changes anything after import. The limit is the first
    int of the exported global lbcrypto::OpenFHEParallelControls (layout of OpenFHE
    1.6.1: threadLimit, savedLimit, machineThreads).
    """
    core = ctypes.CDLL(os.path.join(os.path.dirname(ofhe.__file__), "lib", "libOPENFHEcore.so.1"))
    controls = (ctypes.c_int * 3).in_dll(core, "_ZN8lbcrypto23OpenFHEParallelControlsE")
    if not 1 <= controls[0] <= 4096 or not 1 <= controls[2] <= 4096:
        raise BackendError(f"openfhe: unexpected ParallelControls layout {list(controls)}; "
                           f"cannot set the thread count ({OpenFHEBackend.requirement})")
    controls[0] = int(n)
    ctypes.CDLL("libgomp.so.1").omp_set_num_threads(int(n))


class OpenFHEBackend(CKKSBackend):
    library: ClassVar[str] = "openfhe"
    requirement: ClassVar[str] = "needs CPython 3.10 and openfhe==1.6.1.0.22.4"
    PARAMS_SCHEMA: ClassVar[dict] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "ring_dim": {"type": "integer", "enum": [2 ** k for k in range(10, 17)],
                         "default": 32768, "description": "ring dimension N (slots = N/2)"},
            "scale_bits": {"type": "integer", "minimum": 14, "maximum": 59, "default": 40,
                           "description": "log2 of the CKKS scale (scaling primes); OpenFHE "
                                          "accepts 14..59 on this 64-bit build"},
            "first_mod_bits": {"type": "integer", "minimum": 15, "maximum": 60, "default": 60,
                               "description": "bits of the first prime; must exceed scale_bits"},
            "security": {"enum": list(_SECURITY), "default": 128,
                         "description": "HE-standard level in bits (classic); none is INSECURE "
                                        "(tests only)"},
            "num_large_digits": {"type": ["integer", "null"], "minimum": 1, "default": None,
                                 "description": "hybrid key-switching digits (dnum); null = "
                                                "OpenFHE's default; more digits allow more depth"},
            "workers": {"type": ["integer", "null"], "minimum": 1, "default": None,
                        "description": "OpenMP threads; null = the job's threads"},
            "scaling": {"enum": list(_SCALING), "default": "FLEXIBLEAUTO",
                        "description": "OpenFHE rescaling technique: the AUTO ones rescale lazily "
                                       "(before the next product, so rotations and additions in "
                                       "between carry one more tower); FIXEDMANUAL is rescaled by "
                                       "the adapter right after every product"},
            "secret": {"enum": list(_SECRETS), "default": "uniform",
                       "description": "secret key distribution; the HE standard's tables assume "
                                      "uniform; sparse_encapsulated is OpenFHE's choice for "
                                      "bootstrapping (fewer levels per bootstrap)"},
            "bootstrap_level_budget": {
                "type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 5},
                "minItems": 2, "maxItems": 2, "default": [3, 3],
                "description": "levels of the bootstrap's CoeffsToSlots and SlotsToCoeffs: more "
                               "levels, fewer keys and less time"},
            "bootstrap_slots": {
                "type": ["integer", "null"], "minimum": 8, "default": None,
                "description": "slots a bootstrap works on (its input repeats every that many "
                               "slots); null = all; 16384 at ring 65536 keeps the keys in 24 GB"},
            "bootstrap_iterations": {
                "enum": [1, 2], "default": 1,
                "description": "2: meta-bootstrapping (OpenFHE's iterative bootstrap): the "
                               "first bootstrap's error is bootstrapped again and subtracted, "
                               "for more precision at twice the time and one more level"},
            "bootstrap_precision": {
                "type": ["integer", "null"], "minimum": 1, "maximum": 50, "default": None,
                "description": "bits of precision of one bootstrap at these parameters, measured "
                               "(OpenFHE needs it for bootstrap_iterations 2: the error is scaled "
                               "up by 2^bits before it is bootstrapped)"},
            "rotation_keys": ROTATION_KEYS_PARAM,
        },
    }
    # 50-bit scales and a sparse secret: what bootstrapping needs (it fails at 40 bits)
    TEST_PARAMS: ClassVar[dict] = {"ring_dim": 1024, "security": "none", "workers": 2, "scale_bits": 50,
                                   "secret": "sparse_encapsulated", "bootstrap_level_budget": [2, 2]}
    # the paper's shape at ring 32768 (docs/results.md): peak RSS, key generation + server set-up, server s per iteration
    RESOURCES: ClassVar[Resources] = Resources(mb=1900, mb_per_ring=2200, setup_s=20, iteration_s=35)

    @classmethod
    def load_library(cls) -> None:
        global ofhe
        import openfhe as ofhe

    @classmethod
    def cross_problems(cls, params: dict[str, Any]) -> list[str]:
        out = []
        if params["first_mod_bits"] <= params["scale_bits"]:
            out.append(f"first_mod_bits ({params['first_mod_bits']}) must exceed scale_bits "
                       f"({params['scale_bits']}): the last level holds values below "
                       "2^(first_mod_bits - scale_bits)")
        if params["bootstrap_iterations"] > 1 and params["bootstrap_precision"] is None:
            out.append("bootstrap_iterations 2 needs bootstrap_precision: the bits of precision "
                       "one bootstrap keeps at these parameters (measure it with "
                       "bootstrap_iterations 1)")
        return out

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        p = self.params
        self.ring_dim = int(p["ring_dim"])
        self.scale_bits = int(p["scale_bits"])
        self.first_mod_bits = int(p["first_mod_bits"])
        self.security = _SECURITY[p["security"]]
        self.num_large_digits = p["num_large_digits"]
        self.scaling = p["scaling"]
        self.threads = default_workers(p["workers"])
        self._token = next(_TOKENS)
        self._cc: Any = None
        self._sk: Any = None
        self._pk: Any = None
        self._tag = ""
        self._keys: tuple[list, Any] | None = None  # (mult keys, automorphism key map)
        self._public = b""  # made at keygen when bootstrapping keys follow, else on demand
        #: kind -> file of the keys published beside the bytes (bootstrapping runs)
        self._key_files: dict[str, str] = {}
        self._template: Any = None  # a ciphertext of self._cc, to re-bind foreign ones
        self._sizes: dict[str, int] | None = None
        self._activate()
        if self.max_depth() < 1:
            raise ParameterError(
                f"openfhe: ring_dim {self.ring_dim} cannot hold a single multiplicative level "
                f"at security {p['security']} ({self._param_summary()}); use a larger ring_dim")

    # ---------------------------------------------------------------- properties
    @property
    def security_bits(self) -> int | None:
        bits = self.params["security"]
        return None if bits == "none" else int(bits)

    def headroom_bits(self) -> int:
        return self.first_mod_bits - self.scale_bits

    def max_depth(self) -> int:
        """Largest depth GenCryptoContext accepts at this ring and security (cached)."""
        key = (self.ring_dim, self.scale_bits, self.first_mod_bits, self.security,
               self.num_large_digits, self.scaling, self.params["secret"])
        if key not in _MAX_DEPTH_CACHE:
            _MAX_DEPTH_CACHE[key] = self._search_max_depth()
        return _MAX_DEPTH_CACHE[key]

    def _search_max_depth(self) -> int:
        # Security only gets worse with depth, but an explicit num_large_digits refuses
        # some depths whose towers it cannot split evenly: "some depth >= d is accepted"
        # is monotone, so bisect on that, walking over refused-split depths.
        def first_accepted_from(d: int) -> int | None:
            for e in range(d, _DEPTH_CAP + 1):
                verdict = self._probe(e)
                if verdict == "ok":
                    return e
                if verdict == "refused":
                    return None
            return None

        lo = first_accepted_from(1)
        if lo is None:
            return 0
        if self._probe(_DEPTH_CAP) == "ok":  # HEStd_NotSet: no security bound
            return _DEPTH_CAP
        hi = _DEPTH_CAP  # invariant: lo accepted, nothing >= hi accepted
        while hi - lo > 1:
            found = first_accepted_from((lo + hi) // 2)
            if found is None:
                hi = (lo + hi) // 2
            else:
                lo = found
        return lo

    def depth_problem(self, depth: int) -> str | None:
        """Beyond the bound: an explicit num_large_digits refuses some depths below it, whose
        towers it cannot split evenly (probed, cached)."""
        problem = super().depth_problem(depth)
        if problem or self.num_large_digits is None:
            return problem
        key = (self.ring_dim, self.scale_bits, self.first_mod_bits, self.security,
               self.num_large_digits, self.scaling, self.params["secret"], depth)
        if key not in _SPLIT_REFUSED:
            _SPLIT_REFUSED[key] = self._probe(depth) == "split"
        if not _SPLIT_REFUSED[key]:
            return None
        fits = [d for d in range(1, 9) if d != self.num_large_digits and self._probe_digits(depth, d)]
        return (f"openfhe: depth {depth} ({depth + 1} towers) cannot be split into num_large_digits "
                f"{self.num_large_digits} key-switching digits ({self._param_summary()}); "
                f"num_large_digits {', '.join(map(str, fits)) or 'null'} split it")

    def _probe_digits(self, depth: int, digits: int) -> bool:
        """Whether ``digits`` key-switching digits split ``depth`` at these parameters."""
        other = type(self)(**{**self.params, "num_large_digits": digits})
        return other.max_depth() >= depth and other._probe(depth) == "ok"

    def _probe(self, depth: int) -> str:
        try:
            self._gen_context(depth)
        except RuntimeError as exc:
            return "split" if "distribute" in str(exc) else "refused"
        return "ok"

    def _gen_context(self, depth: int) -> Any:
        p = ofhe.CCParamsCKKSRNS()
        p.SetMultiplicativeDepth(int(depth))
        p.SetScalingModSize(self.scale_bits)
        p.SetFirstModSize(self.first_mod_bits)
        p.SetRingDim(self.ring_dim)
        p.SetBatchSize(self.slots)
        p.SetScalingTechnique(getattr(ofhe, self.scaling))
        p.SetSecurityLevel(getattr(ofhe, self.security))
        p.SetSecretKeyDist(getattr(ofhe, _SECRETS[self.params["secret"]]))
        if self.num_large_digits is not None:
            p.SetNumLargeDigits(int(self.num_large_digits))
        return ofhe.GenCryptoContext(p)

    def describe(self) -> Description:
        from importlib.metadata import version

        bits = self.security_bits
        modulus = None
        if self._cc is not None:
            modulus = round(math.log2(self._cc.GetElementParams().GetModulus()), 1)
        return Description(
            library=self.library, mode=self.mode,
            security=(f"{bits}-bit ({self.security})" if bits
                      else f"none: INSECURE test parameters ({self.security})"),
            security_bits=bits, library_version=version("openfhe"), workers=self.threads,
            ring_dim=self.ring_dim, slots=self.slots, scale_bits=self.scale_bits,
            first_mod_bits=self.first_mod_bits, modulus_bits=modulus)

    def key_sizes(self) -> dict[str, int]:
        """Serialized bytes: rotation keys, relinearisation keys, context + public key."""
        if self._sizes is None:
            if self._cc is None:
                return {}
            self._sections()
        return dict(self._sizes)

    # ---------------------------------------------------------------- process state
    def _activate(self, keys: bool = True) -> None:
        """Make OpenMP's thread count and (for evaluation) OpenFHE's key maps this
        instance's; a no-op when it already was the active instance."""
        if _Process.omp_pid is None:
            _Process.omp_pid = os.getpid()
        # A forked child (parallel_map) inherits a thread pool whose threads do not
        # exist there: libgomp deadlocks unless the child stays single-threaded.
        threads = self.threads if os.getpid() == _Process.omp_pid else 1
        if _Process.threads != threads:
            _set_threads(threads)
            _Process.threads = threads
        if keys and self._keys is not None and _Process.keys_owner != self._token:
            # Another server may have cleared the maps. Keys already present under our
            # tag are copies of the same key material (OpenFHE refuses to replace them).
            mult, rotation = self._keys
            if self._tag not in self._cc.GetAllEvalMultKeys():
                self._cc.InsertEvalMultKey(mult)
            if rotation is not None and not self._cc.GetExistingEvalAutomorphismKeyIndices(self._tag):
                self._cc.InsertEvalAutomorphismKey(rotation, self._tag)
            _Process.keys_owner = self._token

    def _capture_keys(self, with_rotation: bool) -> None:
        rotation = self._cc.GetEvalAutomorphismKeyMap(self._tag) if with_rotation else None
        self._keys = (self._cc.GetEvalMultKeyVector(self._tag), rotation)
        _Process.keys_owner = self._token

    def _enable(self, cc: Any, bootstrap: bool = False) -> None:
        for feature in (ofhe.PKE, ofhe.KEYSWITCH, ofhe.LEVELEDSHE, ofhe.ADVANCEDSHE):
            cc.Enable(feature)
        if bootstrap:
            cc.Enable(ofhe.FHE)

    def _load_key_files(self, cc: Any) -> None:
        """Rotation keys first (their file is read whole), then the bootstrapping keys."""
        path = self._key_files["rotation_keys"]
        if os.path.getsize(path):
            keys, ok = ofhe.DeserializeEvalKeyMap(path, ofhe.BINARY)
            if not ok:
                raise BackendError(f"openfhe: cannot read the client's rotation keys from {path}")
            cc.InsertEvalAutomorphismKey(keys, self._tag)
            del keys
        self._setup_bootstrap(cc)
        path = self._key_files["bootstrap_keys"]
        if not ofhe.DeserializeEvalBootstrapKey(path, ofhe.BINARY, cc, self._tag, self.bootstrap_slots()):
            raise BackendError(f"openfhe: cannot read the client's bootstrapping keys from {path}")

    def _setup_bootstrap(self, cc: Any) -> None:
        """The bootstrap's public precomputations (not serialized: each side makes them)."""
        cc.EvalBootstrapSetup(list(self.params["bootstrap_level_budget"]), [0, 0], self.bootstrap_slots())
        # OpenFHE's 64-bit bootstrap throws at its first call (after minutes of key generation)
        # when the first prime exceeds the scale by more than the setup's correction factor.
        gap, factor = self.first_mod_bits - self.scale_bits, cc.GetCKKSBootCorrectionFactor()
        if gap > factor:
            raise ParameterError(
                f"openfhe: first_mod_bits - scale_bits = {gap} exceeds the bootstrap's correction "
                f"factor {factor} at ring {self.ring_dim} and {self.bootstrap_slots()} slots; use "
                f"first_mod_bits <= {self.scale_bits + factor}")

    # ---------------------------------------------------------------- bootstrapping
    def bootstrap_depth(self) -> int:
        self._activate(keys=False)
        # meta-bootstrapping scales the correction down by a constant: one level more
        return int(ofhe.CryptoContext.GetBootstrapDepth(
            list(self.params["bootstrap_level_budget"]), getattr(ofhe, _SECRETS[self.params["secret"]]))
        ) + self.params["bootstrap_iterations"] - 1

    def bootstrap_slots(self) -> int:
        return int(self.params["bootstrap_slots"] or self.slots)

    def _bootstrap(self, ct: Ciphertext) -> Any:
        self._activate()
        # A full-slot ciphertext that repeats every bootstrap_slots bootstraps with that
        # setup; its slot count goes back afterwards.
        raw = ct.raw.Clone()
        raw.SetSlots(self.bootstrap_slots())
        out = self._cc.EvalBootstrap(raw, self.params["bootstrap_iterations"],
                                     self.params["bootstrap_precision"] or 0)
        out.SetSlots(self.slots)
        return out

    def _require_keys(self) -> None:
        if self._cc is None:
            raise BackendError("openfhe: no context yet (call keygen or build from bytes first)")

    # ---------------------------------------------------------------- client
    def _keygen(self, depth: int, steps: Sequence[int], bootstrap: bool) -> None:
        self._activate()
        try:
            cc = self._gen_context(depth)
        except RuntimeError as exc:
            raise ParameterError(
                f"openfhe: depth {depth} refused with {self._param_summary()}: "
                f"{str(exc).split('):')[-1].strip()}") from None
        self._enable(cc, bootstrap)
        kp = cc.KeyGen()
        cc.EvalMultKeyGen(kp.secretKey)
        self._cc, self._sk, self._pk = cc, kp.secretKey, kp.publicKey
        self._tag = kp.secretKey.GetKeyTag()
        self._template, self._sizes = None, None
        if bootstrap:
            self._keygen_to_files(steps)
        elif steps:
            cc.EvalRotateKeyGen(kp.secretKey, list(steps))
        self._capture_keys(bool(steps))

    def _keygen_to_files(self, steps: Sequence[int]) -> None:
        """Bootstrapping keys, then rotation keys, each straight to a file the server reads.

        At ring 65536 the ~60 bootstrapping keys take ~10 GB and the schedule's rotation
        keys ~4 GB: one set at a time in memory, never as bytes, or 24 GB do not hold them.
        """
        cc, sk = self._cc, self._sk
        for kind in ("bootstrap_keys", "rotation_keys"):
            fd, self._key_files[kind] = tempfile.mkstemp(prefix=f"hemlr-openfhe-{kind}-")
            os.close(fd)
            weakref.finalize(self, _remove, self._key_files[kind])
        self._setup_bootstrap(cc)
        cc.EvalBootstrapKeyGen(sk, self.bootstrap_slots())
        if not ofhe.SerializeEvalBootstrapKey(self._key_files["bootstrap_keys"], ofhe.BINARY, cc,
                                              self._tag, self.bootstrap_slots()):
            raise BackendError(f"openfhe: cannot write {self._key_files['bootstrap_keys']}")
        cc.ClearBootstrapPrecom()  # the client never bootstraps
        ofhe.CryptoContext.ClearEvalAutomorphismKeys()
        if steps:
            cc.EvalRotateKeyGen(sk, list(steps))
            if not ofhe.SerializeToFile(self._key_files["rotation_keys"],
                                        cc.GetEvalAutomorphismKeyMap(self._tag), ofhe.BINARY):
                raise BackendError(f"openfhe: cannot write {self._key_files['rotation_keys']}")
        self._public = self._public_from(self._sections())

    def _encrypt(self, values: np.ndarray) -> Any:
        self._activate(keys=False)
        return self._cc.Encrypt(self._pk, self._cc.MakeCKKSPackedPlaintext(values))

    def _decrypt(self, ct: Ciphertext) -> np.ndarray:
        self._activate(keys=False)
        pt = self._cc.Decrypt(ct.raw, self._sk)
        pt.SetLength(self.slots)
        return pt.GetRealPackedValueArray()

    def _sections(self) -> dict[str, bytes]:
        self._activate()
        sections = {
            "context": ofhe.Serialize(self._cc, ofhe.BINARY),
            "public_key": ofhe.Serialize(self._pk, ofhe.BINARY),
            "mult_keys": ofhe.SerializeEvalMultKeyString(ofhe.BINARY, self._tag),
            "rotation_keys": (ofhe.SerializeEvalAutomorphismKeyString(ofhe.BINARY, self._tag)
                              if self.keyed_steps and not self._key_files else b""),
            # the files the keys too large for memory went to (bootstrapping runs)
            "key_files": json.dumps(self._key_files).encode(),
        }
        self._record_sizes(sections)
        return sections

    def _record_sizes(self, sections: dict[str, bytes]) -> None:
        self._sizes = {"rotation_keys": len(sections["rotation_keys"]),
                       "mult_keys": len(sections["mult_keys"]),
                       "public_context": len(sections["context"]) + len(sections["public_key"]),
                       **{kind: os.path.getsize(path) for kind, path in self._key_files.items()}}

    def external_bytes(self) -> int:
        return sum(os.path.getsize(path) for path in self._key_files.values())

    def _public_bytes(self) -> bytes:
        if self.can_bootstrap and self._keys[1] is not None:
            # A client that hands over bootstrapping keys (GBs at ring 65536) keeps none of
            # its evaluation keys: it only encrypts and decrypts, the server needs the memory.
            self._cc.ClearBootstrapPrecom()
            ofhe.CryptoContext.ClearEvalAutomorphismKeys()
            self._keys = (self._keys[0], None)
        return self._public or self._public_from(self._sections())

    def _public_from(self, sections: dict[str, bytes]) -> bytes:
        # The secret key is never among the sections.
        header = json.dumps({k: len(v) for k, v in sections.items()}).encode()
        return b"".join([_MAGIC, struct.pack("<Q", len(header)), header, *sections.values()])

    # ---------------------------------------------------------------- server
    def _load_public(self, data: bytes) -> None:
        sections = _unpack(data)
        # Start from an empty library state, as a fresh process would: whatever the
        # server can do afterwards comes from these bytes only.
        ofhe.ReleaseAllContexts()
        ofhe.ClearEvalMultKeys()
        ofhe.CryptoContext.ClearEvalAutomorphismKeys()
        _Process.keys_owner = None
        self._activate()
        cc = ofhe.DeserializeCryptoContextString(sections["context"], ofhe.BINARY)
        if cc.GetRingDimension() != self.ring_dim:
            raise ParameterError(f"openfhe: the client's context has ring dimension "
                                 f"{cc.GetRingDimension()}, the server was configured for "
                                 f"{self.ring_dim}")
        if self.depth is not None and cc.GetMultiplicativeDepth() < self.depth:
            raise ParameterError(f"openfhe: the client's context holds depth "
                                 f"{cc.GetMultiplicativeDepth()}, the server was told {self.depth}")
        self._enable(cc, self.can_bootstrap)
        self._pk = ofhe.DeserializePublicKeyString(sections["public_key"], ofhe.BINARY)
        ofhe.DeserializeEvalMultKeyString(sections["mult_keys"], ofhe.BINARY)
        if sections["rotation_keys"]:
            ofhe.DeserializeEvalAutomorphismKeyString(sections["rotation_keys"], ofhe.BINARY)
        self._cc, self._sk, self._tag = cc, None, self._pk.GetKeyTag()
        self._key_files = json.loads(sections["key_files"])
        if self.can_bootstrap:
            self._load_key_files(cc)
        have = set(cc.GetExistingEvalAutomorphismKeyIndices(self._tag))
        missing = [s for s in sorted(self.keyed_steps)
                   if cc.FindAutomorphismIndices([s])[0] not in have]
        if missing:
            raise BackendError(f"openfhe: the client's bytes lack rotation keys for steps {missing}")
        self._record_sizes(sections)
        self._capture_keys(bool(self.keyed_steps) or self.can_bootstrap)

    # ---------------------------------------------------------------- serialization
    def _serialize(self, ct: Ciphertext) -> bytes:
        return ofhe.Serialize(ct.raw, ofhe.BINARY)

    def _deserialize(self, data: bytes) -> Any:
        self._require_keys()
        return self._rebind(ofhe.DeserializeCiphertextString(data, ofhe.BINARY))

    def _rebind(self, ct: Any) -> Any:
        """The same ciphertext in a fresh one of self._cc. A deserialized ciphertext may be
        bound to the context another instance left registered (OpenFHE refuses to mix
        contexts), and OpenFHE adds on it (and on all computed from it) ~10x slower,
        plaintext products ~1.3x, measured at ring 8192: its elements copied into a
        ciphertext encrypted here run at the client's speed."""
        if self._template is None:
            self._template = self._cc.Encrypt(self._pk, self._cc.MakeCKKSPackedPlaintext(np.zeros(1)))
        out = self._template.CloneEmpty()
        out.SetElements(ct.GetElements())
        out.SetLevel(ct.GetLevel())
        out.SetNoiseScaleDeg(ct.GetNoiseScaleDeg())
        out.SetScalingFactor(ct.GetScalingFactor())
        out.SetSlots(ct.GetSlots())
        out.SetKeyTag(ct.GetKeyTag())
        out.SetEncodingType(ct.GetEncodingType())
        return out

    # ---------------------------------------------------------------- evaluation
    def _encode(self, values: np.ndarray, level: int, scale_deg: int = 1) -> Any:
        # Encode at the ciphertext's level and scale degree: OpenFHE would adjust a
        # level-0 plaintext itself, equally precise but ~4x slower (all towers).
        return self._cc.MakeCKKSPackedPlaintext(values, scale_deg, level)

    def _add(self, a: Ciphertext, b: Ciphertext) -> Any:
        self._activate()
        return self._cc.EvalAdd(a.raw, b.raw)

    def _sub(self, a: Ciphertext, b: Ciphertext) -> Any:
        self._activate()
        return self._cc.EvalSub(a.raw, b.raw)

    def _add_plain(self, a: Ciphertext, values: np.ndarray) -> Any:
        self._activate()
        ct = a.raw
        return self._cc.EvalAdd(ct, self._encode(values, ct.GetLevel(), ct.GetNoiseScaleDeg()))

    def _rescaled(self, ct: Any) -> Any:
        # FIXEDMANUAL leaves rescaling to the caller: at once, so that the rotations and
        # additions that follow a product work on one tower fewer.
        return self._cc.Rescale(ct) if self.scaling == "FIXEDMANUAL" else ct

    def _mul(self, a: Ciphertext, b: Ciphertext) -> Any:
        self._activate()
        return self._rescaled(self._cc.EvalMult(a.raw, b.raw))  # relinearises

    def _mul_plain(self, a: Ciphertext, values: np.ndarray) -> Any:
        self._activate()
        ct = a.raw
        # OpenFHE rescales a degree-2 ciphertext before multiplying: encode for that level.
        plain = self._encode(values, ct.GetLevel() + ct.GetNoiseScaleDeg() - 1)
        return self._rescaled(self._cc.EvalMult(ct, plain))

    def _mul_scalar(self, a: Ciphertext, value: float) -> Any:
        self._activate()
        return self._rescaled(self._cc.EvalMult(a.raw, float(value)))

    def _rotate(self, a: Ciphertext, step: int) -> Any:
        self._activate()
        return self._cc.EvalRotate(a.raw, int(step))

    def _rotate_many(self, a: Ciphertext, steps: Sequence[int]) -> list[Any]:
        if len(steps) < 2:
            return [self._rotate(a, s) for s in steps]
        self._activate()
        # Hoisting: one digit decomposition shared by every step.
        precomp = self._cc.EvalFastRotationPrecompute(a.raw)
        m = self._cc.GetCyclotomicOrder()
        return [self._cc.EvalFastRotation(a.raw, int(s), m, precomp) for s in steps]


def _remove(path: str) -> None:
    if os.path.exists(path):
        os.unlink(path)


def _unpack(data: bytes) -> dict[str, bytes]:
    if not data.startswith(_MAGIC):
        raise BackendError("openfhe: these bytes were not made by OpenFHEBackend.public_bytes")
    pos = len(_MAGIC)
    (n,) = struct.unpack_from("<Q", data, pos)
    pos += 8
    lengths = json.loads(data[pos:pos + n])
    pos += n
    out = {}
    for name, length in lengths.items():
        out[name] = data[pos:pos + length]
        pos += length
    return out
