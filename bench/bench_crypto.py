"""Seal and open throughput next to the floor any seal-and-sign must pay, in the same run.

    .venv/bin/python bench/bench_crypto.py            # both HPKE suites, 1 KB / 100 KB / 10 MB
    .venv/bin/python bench/bench_crypto.py --quick    # fewer repetitions

The floor for N bytes is one AES-256-GCM pass plus one SHA-256 pass over them
(encrypting, and hashing what is signed); for opening, the same two passes
(decrypting, and hashing to verify). A seal here also wraps the data key for two
readers (sender and recipient, as an exchange does) and signs with Ed25519; an
open verifies, unwraps one key and decrypts. "Fixed cost" is seal or open of an
empty payload: the per-exchange price of the key wraps and the signature.

Memory: the peak of Python allocations (tracemalloc) while sealing and opening the
largest payload, as a multiple of the payload size: bounded means a small
constant number of copies (input, output), never growth with the number of readers.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import secrets
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hub.crypto.sealing import (
    SUITE_MLKEM768_X25519,
    SUITE_X25519,
    HpkePrivateKey,
    Sealed,
    mlkem_available,
    open_sealed,
    seal,
)

SIZES = {"1 KB": 1024, "100 KB": 100 * 1024, "10 MB": 10 * 1024 * 1024}
BINDING = {
    "record_type": "exchange",
    "record_id": "3f0c6f8e-5a8b-4d7e-9a55-0c1d2e3f4a5b/42",
    "agreement": "QB-KM-MOU",
    "sender": "QB",
    "recipient": "KM",
}
TARGET_RATIO = 1.5
TARGET_FIXED_MS = 1.0


def paired(
    floor: Callable[[], object], func: Callable[[], object], repeat: int
) -> tuple[float, float]:
    """Median seconds of the floor and of ``func``, run alternately after a warm-up, so
    that drift in a shared machine's load hits both alike."""
    floor()
    func()
    floors, times = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        floor()
        middle = time.perf_counter()
        func()
        times.append(time.perf_counter() - middle)
        floors.append(middle - start)
    return statistics.median(floors), statistics.median(times)


def best(func: Callable[[], object], repeat: int) -> float:
    """Median seconds of ``repeat`` runs after one warm-up."""
    func()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def floor_seal(data: bytes) -> Callable[[], object]:
    key, nonce = AESGCM.generate_key(bit_length=256), os.urandom(12)
    aes = AESGCM(key)

    def run() -> object:
        ciphertext = aes.encrypt(nonce, data, b"aad")
        return hashlib.sha256(ciphertext).digest()

    return run


def floor_open(data: bytes) -> Callable[[], object]:
    key, nonce = AESGCM.generate_key(bit_length=256), os.urandom(12)
    aes = AESGCM(key)
    ciphertext = aes.encrypt(nonce, data, b"aad")

    def run() -> object:
        hashlib.sha256(ciphertext).digest()
        return aes.decrypt(nonce, ciphertext, b"aad")

    return run


class Parties:
    def __init__(self, suite: str) -> None:
        self.qb = HpkePrivateKey.generate(suite)
        self.km = HpkePrivateKey.generate(suite)
        self.signing = Ed25519PrivateKey.generate()
        self.readers = {"QB": (1, self.qb.public), "KM": (1, self.km.public)}

    def seal(self, data: bytes) -> Sealed:
        return seal(data, binding=BINDING, readers=self.readers, signer=("QB", 1, self.signing))

    def open(self, sealed: Sealed) -> bytes:
        # As read back from the database: a fresh object, so the digest is recomputed.
        fresh = Sealed.from_header(sealed.header(), sealed.ciphertext)
        return open_sealed(
            fresh,
            binding=BINDING,
            reader_org="KM",
            reader_private_key=self.km,
            signer_public_key=self.signing.public_key(),
        )


def peak_multiple(func: Callable[[], object], size: int) -> float:
    tracemalloc.start()
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    result = func()
    peak = tracemalloc.get_traced_memory()[1] - before
    tracemalloc.stop()
    del result
    return peak / size


def bench_suite(suite: str, scale: int, failures: list[str]) -> None:
    parties = Parties(suite)
    print(f"== {suite} (2 readers)")
    print(
        f"{'size':>7} {'floor seal':>11} {'seal':>9} {'ratio':>6} "
        f"{'floor open':>11} {'open':>9} {'ratio':>6} {'seal MB/s':>10} {'open MB/s':>10}"
    )
    for label, size in SIZES.items():
        data = os.urandom(size)
        repeat = (7 if size >= 10 * 1024 * 1024 else 200 if size <= 1024 else 50) * scale
        sealed = parties.seal(data)
        assert parties.open(sealed) == data
        f_seal, t_seal = paired(floor_seal(data), lambda d=data: parties.seal(d), repeat)
        f_open, t_open = paired(floor_open(data), lambda s=sealed: parties.open(s), repeat)
        r_seal, r_open = t_seal / f_seal, t_open / f_open
        mb = size / 1e6
        print(
            f"{label:>7} {f_seal * 1e3:9.3f}ms {t_seal * 1e3:7.3f}ms {r_seal:6.2f} "
            f"{f_open * 1e3:9.3f}ms {t_open * 1e3:7.3f}ms {r_open:6.2f} "
            f"{mb / t_seal:10.1f} {mb / t_open:10.1f}"
        )
        if size == SIZES["10 MB"]:
            for name, ratio in (("seal", r_seal), ("open", r_open)):
                if ratio > TARGET_RATIO:
                    failures.append(f"{suite} 10 MB {name} {ratio:.2f}x floor")
    empty = parties.seal(b"")
    fixed_seal = best(lambda: parties.seal(b""), 300 * scale)
    fixed_open = best(lambda: parties.open(empty), 300 * scale)
    print(
        f"fixed cost per exchange: seal {fixed_seal * 1e3:.3f} ms "
        f"(2 wraps + signature), open {fixed_open * 1e3:.3f} ms (verify + unwrap)"
    )
    for name, value in (("seal", fixed_seal), ("open", fixed_open)):
        if value * 1e3 >= TARGET_FIXED_MS:
            failures.append(f"{suite} fixed {name} {value * 1e3:.3f} ms")
    big = os.urandom(SIZES["10 MB"])
    sealed_big = parties.seal(big)
    seal_mem = peak_multiple(lambda: parties.seal(big), len(big))
    open_mem = peak_multiple(lambda: parties.open(sealed_big), len(big))
    print(
        f"peak Python memory for 10 MB: seal {seal_mem:.2f}x payload, "
        f"open {open_mem:.2f}x payload\n"
    )


def bench_app_lookups(scale: int, failures: list[str]) -> None:
    """The application's key lookups per seal and per open (hub.app_keyring), on a
    throw-away keyring: they come on top of the fixed cost above."""
    import tempfile

    from hub import app_keyring, create_app
    from hub.config import Settings
    from hub.crypto.keyring import KdfParams, Keyring

    with tempfile.TemporaryDirectory() as tmp:
        passphrase = secrets.token_urlsafe(24)  # throw-away keys
        cheap = KdfParams(memory_kib=64, iterations=1, parallelism=1)
        Keyring(Path(tmp) / "keys", kdf=cheap).init(["QB", "KM"], passphrase)
        settings = Settings.from_env(
            {
                "env": "development",
                "instance_path": str(Path(tmp) / "instance"),
                "database_url": f"sqlite:///{tmp}/unused.sqlite3",
                "secret_key": "bench-secret-key-bench-secret-key-0123456789",
                "keys_dir": str(Path(tmp) / "keys"),
                "key_passphrase": passphrase,
            }
        )
        app = create_app(settings)
        with app.app_context():

            def seal_lookups() -> None:
                app_keyring.public_enc("QB")
                app_keyring.public_enc("KM")
                app_keyring.signing_key("QB")

            def open_lookups() -> None:
                app_keyring.signing_public("QB", 1)
                app_keyring.private_enc("KM", 1)

            per_seal = best(seal_lookups, 300 * scale)
            per_open = best(open_lookups, 300 * scale)
    print(
        f"app key lookups (hub.app_keyring, cached keys): per seal {per_seal * 1e3:.3f} ms, "
        f"per open {per_open * 1e3:.3f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args()
    scale = 1 if args.quick else 3
    suites = [SUITE_X25519] + ([SUITE_MLKEM768_X25519] if mlkem_available() else [])
    import cryptography

    print(f"cryptography {cryptography.__version__}, Python {sys.version.split()[0]}")
    print(f"targets: 10 MB seal/open <= {TARGET_RATIO}x floor; fixed cost < {TARGET_FIXED_MS} ms\n")
    failures = []
    for suite in suites:
        bench_suite(suite, scale, failures)
    bench_app_lookups(scale, failures)
    if failures:
        print("MISSED TARGETS: " + "; ".join(failures))
        return 1
    print("all targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
