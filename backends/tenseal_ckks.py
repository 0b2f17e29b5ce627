"""TenSEAL (Microsoft SEAL 4.1) CKKS adapter, evaluated through ``tenseal.sealapi``.

TenSEAL's ``CKKSVector`` has no public rotation, so everything runs on SEAL's own
objects: Evaluator.multiply/relinearize/rescale_to_next, multiply_plain, rotate_vector
with Galois keys made only for the declared steps, mod_switch_to for level alignment.

Scales are tracked exactly instead of being reset to 2^scale_bits after each rescale
(TenSEAL's way, which leaves a relative error of |q/2^bits - 1| per rescale). Every
ciphertext at level l has the canonical scale S_l, with S_{l+1} = S_l^2 / q_l (q_l the
prime the rescale drops): a ciphertext product of two level-l operands lands on S_{l+1}
by itself, and plaintexts are encoded at S_l so that ct x pt does too. Free-running,
S_l drifts doubly exponentially away from 2^scale_bits (2^42.3 after 19 levels of SEAL's
default primes at N = 32768), so the data primes are chosen level by level to pull the
scale back to S_0 (the OpenFHE FLEXIBLEAUTO idea). Aligning a ciphertext to a deeper
level multiplies it by the constant 1 encoded at the scale that lands it on S_m.
Exact scales halve the weights' error at the paper shape; what remains is key-switching
noise per rotation, which shrinks as 2^-scale_bits (the 60-bit first prime is a digit as
large as the special prime): hence 50-bit scales for the paper's 1e-5 (docs/results.md).

Client/server: the client encrypts with its secret key (far less fresh noise than
public-key encryption) and publishes the encryption parameters, the public key (the
server only uses it for encryptions of zero) and the relinearisation and Galois keys in
SEAL's seeded form (half the bytes); never the secret key. SEAL objects serialize to
files only, so bytes go through temporary files.
"""
from __future__ import annotations

import json
import os
import struct
import tempfile
from functools import lru_cache
from typing import Any, Callable, ClassVar, Sequence

import numpy as np

from .base import ROTATION_KEYS_PARAM, BackendError, Ciphertext, CKKSBackend, ParameterError, Resources, default_workers
from .records import Description

# Imported by TenSEALBackend.load_library on first use (see backends.base.Adapter).
tenseal: Any = None
sealapi: Any = None

_DEGREES = (8192, 16384, 32768, 65536)
_TABLE_MAX_N = 32768  # largest ring in SEAL's 128-bit (HE standard) table
_SCALE_BITS_RANGE = (20, 60)  # SEAL primes are at most 60 bits; < 20 bits keeps no precision
#: SEAL's documented SEAL_COEFF_MOD_COUNT_MAX; this build does not enforce it, but keys and
#: ciphertexts grow linearly with the chain, so it bounds the insecure test parameters.
_MAX_MODULI = 64
_MAGIC = b"HEMLR-SEAL-PUBLIC-1\n"
_PUBLIC_PARTS = {"parms", "public_key", "relin_keys", "galois_keys"}


def _save(obj: Any) -> bytes:
    fd, path = tempfile.mkstemp(prefix="hemlr-seal-")
    os.close(fd)
    try:
        obj.save(path)
        with open(path, "rb") as f:
            return f.read()
    finally:
        os.unlink(path)


def _load(obj: Any, data: bytes | memoryview, context: Any = None) -> Any:
    fd, path = tempfile.mkstemp(prefix="hemlr-seal-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        # SEAL validates the object against the context while loading
        obj.load(path) if context is None else obj.load(context, path)
    finally:
        os.unlink(path)
    return obj


@lru_cache(maxsize=1)
def _seal_version() -> str | None:
    """SEAL's version as written in the header of any object it serializes."""
    fd, path = tempfile.mkstemp(prefix="hemlr-seal-")
    os.close(fd)
    try:
        sealapi.EncryptionParameters(sealapi.SCHEME_TYPE.CKKS).save(path)
        header = sealapi.Serialization.SEALHeader()
        sealapi.Serialization.LoadHeader(path, header, True)
        return f"{header.version_major}.{header.version_minor}"
    except Exception:  # version is informative only
        return None
    finally:
        os.unlink(path)


def _pack(meta: dict[str, Any], parts: dict[str, bytes]) -> bytes:
    header = json.dumps({"meta": meta, "parts": [[k, len(v)] for k, v in parts.items()]}).encode()
    return b"".join([_MAGIC, struct.pack("<Q", len(header)), header, *parts.values()])


def _unpack(data: bytes) -> tuple[dict[str, Any], dict[str, memoryview]]:
    view = memoryview(data)
    if bytes(view[:len(_MAGIC)]) != _MAGIC:
        raise BackendError("tenseal: these bytes are not a public context of this adapter")
    pos = len(_MAGIC)
    (n,) = struct.unpack_from("<Q", view, pos)
    pos += 8
    header = json.loads(bytes(view[pos:pos + n]))
    pos += n
    parts = {}
    for name, size in header["parts"]:
        parts[name] = view[pos:pos + size]
        pos += size
    return header["meta"], parts


class TenSEALBackend(CKKSBackend):
    library: ClassVar[str] = "tenseal"
    mode: ClassVar[str] = "encrypted"
    requirement: ClassVar[str] = "install tenseal==0.3.16"
    PARAMS_SCHEMA: ClassVar[dict] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "ring_dim": {
                "type": "integer", "enum": list(_DEGREES), "default": 32768,
                "description": "CKKS ring dimension N (slots = N/2); SEAL's 128-bit table stops at "
                               "32768, so at 65536 its 32768 bound is applied (conservative); smaller "
                               "rings hold no useful depth at 128-bit security"},
            "scale_bits": {
                "type": "integer", "minimum": _SCALE_BITS_RANGE[0], "maximum": _SCALE_BITS_RANGE[1],
                "default": 40,
                "description": "bits of the CKKS scale and of each rescaling prime (SEAL primes have "
                               "at most 60 bits; below 20 no useful precision is left); rotation "
                               "noise scales as 2^-scale_bits, and the paper shape needs 50 for "
                               "|W - oracle| <= 1e-5 (40 gives ~1e-4)"},
            "first_mod_bits": {
                "type": "integer", "minimum": _SCALE_BITS_RANGE[0], "maximum": 60, "default": 60,
                "description": "bits of the first (output) prime and of the key-switching prime; "
                               "at least scale_bits"},
            "security": {
                "enum": [128, "none"], "default": 128,
                "description": "128: SEAL's tc128 bound enforced; none: INSECURE, fast unit tests only"},
            "workers": {
                "type": ["integer", "null"], "minimum": 1, "default": None,
                "description": "worker processes for parallel_map (SEAL holds the GIL); null = "
                               "the job's threads"},
            "rotation_keys": ROTATION_KEYS_PARAM,
        },
    }
    TEST_PARAMS: ClassVar[dict] = {"ring_dim": 8192, "security": "none", "workers": 1}
    # the paper's shape at ring 32768 (docs/results.md): peak RSS, key generation + server set-up, server s per iteration
    RESOURCES: ClassVar[Resources] = Resources(mb=800, mb_per_ring=7800, setup_s=75, iteration_s=45)
    FORKING: ClassVar[bool] = True

    @classmethod
    def load_library(cls) -> None:
        global tenseal, sealapi
        import tenseal
        from tenseal import sealapi

    @classmethod
    def cross_problems(cls, params: dict[str, Any]) -> list[str]:
        if params["first_mod_bits"] < params["scale_bits"]:
            return [f"first_mod_bits {params['first_mod_bits']} must be at least scale_bits "
                    f"{params['scale_bits']}: the first prime holds the result above the scale "
                    "and the special prime bounds key-switching noise"]
        return []

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.N = int(self.params["ring_dim"])
        self.scale_bits = int(self.params["scale_bits"])
        self.first_mod_bits = int(self.params["first_mod_bits"])
        self.secure = self.params["security"] == 128
        self.workers = default_workers(self.params["workers"])
        # SEAL's HE-standard table stops at N = 32768. At fixed log q security only grows
        # with N, so at 65536 we enforce the 32768 bound ourselves and let SEAL build the
        # context without its own check.
        self._sec_level = (sealapi.SEC_LEVEL_TYPE.TC128 if self.secure and self.N <= _TABLE_MAX_N
                           else sealapi.SEC_LEVEL_TYPE.NONE)
        self._max_depth: int | None = None
        self._ctx: Any = None
        self._secret_key: Any = None   # client only
        self._decryptor: Any = None    # client only
        self._public: bytes = b""      # parameters, public key, seeded evaluation keys
        self._public_key: Any = None
        self._relin_keys: Any = None
        self._galois_keys: Any = None
        self._key_sizes: dict[str, int] | None = None

    # ---------------------------------------------------------------- parameters
    def _create_primes(self, bits: Sequence[int]) -> list[int] | None:
        try:
            return [m.value() for m in sealapi.CoeffModulus.Create(self.N, list(bits))]
        except (RuntimeError, ValueError):  # not enough primes = 1 mod 2N of that size
            return None

    def headroom_bits(self) -> int:
        return self.first_mod_bits - self.scale_bits

    def max_depth(self) -> int:
        if self._max_depth is None:
            f, s = self.first_mod_bits, self.scale_bits
            if self.secure:
                # all primes lie below 2^bits, so the chain's bit count is at most 2f + s*depth
                bound = sealapi.CoeffModulus.MaxBitCount(min(self.N, _TABLE_MAX_N),
                                                         sealapi.SEC_LEVEL_TYPE.TC128)
                cap = (bound - 2 * f) // s
            else:
                cap = _MAX_MODULI - 2
            lo, hi = -1, cap  # largest depth <= cap for which SEAL finds enough primes
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if self._create_primes([f] + [s] * mid + [f]) is not None:
                    lo = mid
                else:
                    hi = mid - 1
            self._max_depth = lo
        return self._max_depth

    def _chain(self, depth: int) -> tuple[list[int], float]:
        """Coefficient modulus [q0, data primes..., special] and the fresh scale S_0.

        The data primes come from a pool about twice the depth around 2^scale_bits;
        rescales drop them from the end, and each is picked so that the scale after
        dropping it is as close to S_0 as the pool allows.
        """
        f, s = self.first_mod_bits, self.scale_bits
        for pool_size in (2 * depth + 2, depth):
            if f == s:
                primes = self._create_primes([s] * (pool_size + 2))
                ends, pool = (primes[:2], primes[2:]) if primes else (None, None)
            else:
                ends, pool = self._create_primes([f, f]), self._create_primes([s] * pool_size)
            if ends is not None and pool is not None:
                break
        else:
            raise ParameterError(f"tenseal: SEAL finds too few primes for depth {depth} "
                                 f"({self._param_summary()})")
        pool = sorted(pool)
        s0 = float(pool[len(pool) // 2])  # mid-pool: candidates on both sides of every target
        scale, dropped = s0, []
        for _ in range(depth):
            target = scale * scale / s0
            q = min(pool, key=lambda p: abs(p - target))
            pool.remove(q)
            dropped.append(q)
            scale = scale * scale / q
        return [ends[0], *reversed(dropped), ends[1]], s0

    def _build_context(self, parms: Any, s0: float) -> None:
        """SEALContext plus the per-level tables (parms_id, canonical scale, dropped prime)."""
        ctx = sealapi.SEALContext(parms, True, self._sec_level)
        if not ctx.parameters_set():
            raise ParameterError(f"tenseal: SEAL refuses these parameters ({self._param_summary()}): "
                                 f"{ctx.parameters_error_message()}")
        self._ctx = ctx
        self._evaluator = sealapi.Evaluator(ctx)
        self._encoder = sealapi.CKKSEncoder(ctx)
        self._parms: list[tuple[int, ...]] = []
        self._scales: list[float] = []
        self._dropped: list[int] = []
        data, scale = ctx.first_context_data(), s0
        while data is not None:
            self._parms.append(tuple(data.parms_id()))
            self._scales.append(scale)
            q = data.parms().coeff_modulus()[-1].value()
            self._dropped.append(q)
            scale = scale * scale / q
            data = data.next_context_data()
        self._level_of = {p: l for l, p in enumerate(self._parms)}
        self._s0 = s0

    # ---------------------------------------------------------------- description
    def describe(self) -> Description:
        version = f"tenseal {tenseal.__version__}"
        seal = _seal_version()
        if seal:
            version += f", SEAL {seal}"
        modulus_bits = None
        if self._ctx is not None:
            modulus_bits = self._ctx.key_context_data().total_coeff_modulus_bit_count()
        security = (("128-bit (SEAL tc128)" if self.N <= _TABLE_MAX_N else
                     "128-bit (SEAL tc128 bound of N=32768 applied at N=65536, conservative)")
                    if self.secure else "none: INSECURE test parameters")
        return Description(library=self.library, mode=self.mode, security=security,
                           security_bits=128 if self.secure else None, library_version=version,
                           workers=self.workers, ring_dim=self.N, slots=self.slots,
                           scale_bits=self.scale_bits, first_mod_bits=self.first_mod_bits,
                           modulus_bits=modulus_bits)

    def key_sizes(self) -> dict[str, int]:
        return dict(self._key_sizes or {})

    # ---------------------------------------------------------------- client
    def _keygen(self, depth: int, steps: Sequence[int], bootstrap: bool) -> None:
        primes, s0 = self._chain(depth)
        parms = sealapi.EncryptionParameters(sealapi.SCHEME_TYPE.CKKS)
        parms.set_poly_modulus_degree(self.N)
        parms.set_coeff_modulus([sealapi.Modulus(q) for q in primes])
        self._build_context(parms, s0)
        keygen = sealapi.KeyGenerator(self._ctx)
        self._secret_key = keygen.secret_key()
        public_key = sealapi.PublicKey()
        keygen.create_public_key(public_key)
        # Evaluation keys go straight to their seeded serialized form (half the bytes of
        # a GaloisKeys object, which the client never needs unless it evaluates itself).
        parts = {"parms": _save(parms), "public_key": _save(public_key),
                 "relin_keys": _save(keygen.create_relin_keys()),
                 "galois_keys": _save(keygen.create_galois_keys(
                     [self._galois_element(k) for k in steps]))}
        self._public = _pack({"s0": float.hex(s0), "security": self.params["security"]}, parts)
        self._key_sizes = self._sizes(parts)
        self._public_key, self._relin_keys, self._galois_keys = public_key, None, None
        # secret-key encryption: ~20x less fresh noise than public-key encryption at N = 32768
        self._encryptor = sealapi.Encryptor(self._ctx, public_key, self._secret_key)
        self._decryptor = sealapi.Decryptor(self._ctx, self._secret_key)

    def _galois_element(self, step: int) -> int:
        """SEAL's element for a left rotation by ``step``: 3^(step mod N/2) mod 2N."""
        return pow(3, step % (self.N // 2), 2 * self.N)

    def _encrypt(self, values: np.ndarray) -> Any:
        self._require_keys()
        pt = self._encode(values, 0)
        ct = sealapi.Ciphertext()
        self._encryptor.encrypt_symmetric(pt, ct)
        return ct

    def _decrypt(self, ct: Ciphertext) -> np.ndarray:
        self._require_keys()
        pt = sealapi.Plaintext()
        self._decryptor.decrypt(ct.raw, pt)
        return np.asarray(self._encoder.decode_double(pt))

    def _public_bytes(self) -> bytes:
        self._require_keys()
        return self._public

    # ---------------------------------------------------------------- server
    def _load_public(self, data: bytes) -> None:
        meta, parts = _unpack(data)
        if set(parts) != _PUBLIC_PARTS:
            raise BackendError(f"tenseal: public bytes hold {sorted(parts)}, expected {sorted(_PUBLIC_PARTS)}")
        if meta["security"] != self.params["security"]:
            raise ParameterError(f"tenseal: the client used security {meta['security']!r}, "
                                 f"this server was built with {self.params['security']!r}")
        parms = _load(sealapi.EncryptionParameters(sealapi.SCHEME_TYPE.CKKS), parts["parms"])
        if parms.poly_modulus_degree() != self.N:
            raise ParameterError(f"tenseal: the client's ring is N={parms.poly_modulus_degree()}, "
                                 f"this server was built with N={self.N}")
        self._build_context(parms, float.fromhex(meta["s0"]))
        if self.depth is not None and self.depth > len(self._parms) - 1:
            raise ParameterError(f"tenseal: the client's chain holds {len(self._parms) - 1} levels, "
                                 f"the server was asked for depth {self.depth}")
        self._public_key = _load(sealapi.PublicKey(), parts["public_key"], self._ctx)
        self._encryptor = sealapi.Encryptor(self._ctx, self._public_key)
        self._public = data
        self._key_sizes = self._sizes(parts)
        keys = self._eval_keys()[1]
        missing = [k for k in sorted(self.keyed_steps) if not keys.has_key(self._galois_element(k))]
        if missing:
            raise BackendError(f"tenseal: the client published no Galois keys for steps {missing}")

    def _eval_keys(self) -> tuple[Any, Any]:
        """Relinearisation and Galois keys, loaded from the public bytes on first use."""
        if self._galois_keys is None:
            self._require_keys()
            _, parts = _unpack(self._public)
            self._relin_keys = _load(sealapi.RelinKeys(), parts["relin_keys"], self._ctx)
            self._galois_keys = _load(sealapi.GaloisKeys(), parts["galois_keys"], self._ctx)
        return self._relin_keys, self._galois_keys

    @staticmethod
    def _sizes(parts: dict[str, Any]) -> dict[str, int]:
        return {"galois_keys": len(parts["galois_keys"]), "relin_keys": len(parts["relin_keys"]),
                "public_context": len(parts["parms"]) + len(parts["public_key"])}

    # ---------------------------------------------------------------- serialization
    def _serialize(self, ct: Ciphertext) -> bytes:
        return _save(ct.raw)

    def _deserialize(self, data: bytes) -> Any:
        self._require_keys()
        return _load(sealapi.Ciphertext(), data, self._ctx)

    # ---------------------------------------------------------------- evaluation
    def _add(self, a: Ciphertext, b: Ciphertext) -> Any:
        return self._binary(self._evaluator.add, a, b)

    def _sub(self, a: Ciphertext, b: Ciphertext) -> Any:
        return self._binary(self._evaluator.sub, a, b)

    def _add_plain(self, a: Ciphertext, values: np.ndarray) -> Any:
        level = self._level(a.raw)
        out = sealapi.Ciphertext()
        self._evaluator.add_plain(a.raw, self._encode(values, level), out)
        return out

    def _mul(self, a: Ciphertext, b: Ciphertext) -> Any:
        level = max(self._level(a.raw), self._level(b.raw))
        x, y = self._at(a.raw, level), self._at(b.raw, level)
        out = sealapi.Ciphertext()
        if a.raw is b.raw:
            self._evaluator.square(x, out)
        else:
            self._evaluator.multiply(x, y, out)
        self._evaluator.relinearize_inplace(out, self._eval_keys()[0])
        return self._rescale(out, level)

    def _mul_plain(self, a: Ciphertext, values: np.ndarray) -> Any:
        # a plaintext at S_l makes the rescaled product land on S_{l+1}
        level = self._level(a.raw)
        out = self._or_zero(self._evaluator.multiply_plain, a.raw, self._encode(values, level),
                            level=level, scale=self._scales[level] ** 2)
        return self._rescale(out, level)

    def _mul_scalar(self, a: Ciphertext, value: float) -> Any:
        level = self._level(a.raw)
        pt = sealapi.Plaintext()
        self._encoder.encode(value, list(self._parms[level]), self._scales[level], pt)
        out = self._or_zero(self._evaluator.multiply_plain, a.raw, pt,
                            level=level, scale=self._scales[level] ** 2)
        return self._rescale(out, level)

    def _rotate(self, a: Ciphertext, step: int) -> Any:
        out = sealapi.Ciphertext()
        self._evaluator.rotate_vector(a.raw, step, self._eval_keys()[1], out)
        return out

    # ---------------------------------------------------------------- helpers
    def _require_keys(self) -> None:
        if self._ctx is None:
            raise BackendError("tenseal: keys not generated (call keygen first)")

    def _level(self, raw: Any) -> int:
        return self._level_of[tuple(raw.parms_id())]

    def _encode(self, values: np.ndarray, level: int) -> Any:
        pt = sealapi.Plaintext()
        self._encoder.encode(values.tolist(), list(self._parms[level]), self._scales[level], pt)
        return pt

    def _rescale(self, ct: Any, level: int) -> Any:
        """Rescale a product of two level-``level`` factors; pin the scale to S_{level+1}
        (equal up to rounding of the double; pinning keeps SEAL's exact scale checks happy)."""
        self._evaluator.rescale_to_next_inplace(ct)
        ct.scale = self._scales[level + 1]
        return ct

    def _at(self, raw: Any, level: int) -> Any:
        """``raw`` moved down to ``level`` with that level's canonical scale.

        Switch to level m-1 without rescaling, then multiply by the constant 1 encoded at
        S_m * q_{m-1} / S_l and rescale: the chain drops the same primes as a plain mod
        switch would, and the result lands exactly on S_m.
        """
        here = self._level(raw)
        if here == level:
            return raw
        if here > level:
            raise BackendError(f"tenseal: cannot raise a ciphertext from level {here} to {level}")
        ev = self._evaluator
        if level - 1 > here:
            moved = sealapi.Ciphertext()
            ev.mod_switch_to(raw, list(self._parms[level - 1]), moved)
            raw = moved
        one = sealapi.Plaintext()
        factor = self._scales[level] * self._dropped[level - 1] / self._scales[here]
        self._encoder.encode(1.0, list(self._parms[level - 1]), factor, one)
        out = sealapi.Ciphertext()
        ev.multiply_plain(raw, one, out)
        return self._rescale(out, level - 1)

    def _binary(self, op: Callable[[Any, Any, Any], None], a: Ciphertext, b: Ciphertext) -> Any:
        level = max(self._level(a.raw), self._level(b.raw))
        return self._or_zero(op, self._at(a.raw, level), self._at(b.raw, level),
                             level=level, scale=self._scales[level])

    def _or_zero(self, op: Callable[..., None], *args: Any, level: int, scale: float) -> Any:
        """``op(*args, out)``, or a fresh encryption of zero at ``level`` and ``scale`` when
        the result is exactly zero (a - a, x * 0): SEAL refuses such "transparent"
        ciphertexts. Only the public key is needed, so the server can do it too."""
        out = sealapi.Ciphertext()
        try:
            op(*args, out)
        except RuntimeError as exc:
            if "transparent" not in str(exc):
                raise
            self._encryptor.encrypt_zero(list(self._parms[level]), out)
            out.scale = scale
        return out
