"""A file-based keyring: versioned key pairs per organisation, private keys encrypted at rest.

Layout under the keyring root (see keys/README.md)::

    <ORG>/enc-v<N>.key.json    HPKE private key, encrypted under the passphrase (0600)
    <ORG>/enc-v<N>.pub.json    its public key, plain (shared with partners)
    <ORG>/sign-v<N>.key.json   Ed25519 private key, encrypted (0600)
    <ORG>/sign-v<N>.pub.json
    _hub/sign-v<N>.key.json    the hub's own signing key (checkpoints)

A private key file is JSON: a plaintext header (organisation, kind, version,
suite, public key, fingerprint, Argon2id parameters and salt) and the private key
bytes encrypted with AES-256-GCM under a key derived from the passphrase. The
whole header is the AES-GCM associated data, so a file edited to claim another
organisation, or to carry another public key, does not decrypt. One passphrase
protects the whole keyring.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import hmac
import json
import os
import re
import secrets
import stat
import tempfile
import threading
import time
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal, overload

from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hub.crypto.sealing import (
    SIGNATURE_ALG,
    SUITE_MLKEM768_X25519,
    SUITE_X25519,
    HpkePrivateKey,
    HpkePublicKey,
    KnownSigner,
    b64decode,
    b64encode,
    canonical_json,
    default_suite,
    fingerprint,
)

HUB: Final = "_hub"
ENC: Final = "enc"
SIGN: Final = "sign"
Kind = Literal["enc", "sign"]

PRIVATE_FORMAT: Final = "blo-hub-private-key"
PUBLIC_FORMAT: Final = "blo-hub-public-key"
EXPORT_FORMAT: Final = "blo-hub-public-keys"
FILE_VERSION: Final = 1

# Organisation codes become folder names: keep them to a safe alphabet.
_ORG_RE: Final = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,31}$")
_FILE_RE: Final = re.compile(r"^(enc|sign)-v([1-9][0-9]{0,8})\.(key|pub)\.json$")
#: A folder changed less than this long ago is listed again on each call (see Keyring._files).
_SETTLED_NS: Final = 1_000_000_000
_SALT_LEN: Final = 16
_VERIFIER_LABEL: Final = b"blo-hub keyring: passphrase verifier"
_KEY_LABEL: Final = b"blo-hub keyring: key encryption key"


class KeyringError(Exception):
    """Base class for keyring failures."""


class WrongPassphrase(KeyringError):
    """The passphrase does not unlock this key file."""


class CorruptKeyFile(KeyringError):
    """A key file is unreadable, truncated or altered."""


class KeyNotFound(KeyringError, LookupError):
    """No key for this organisation, kind and version."""


class WrongOrganisation(KeyringError):
    """The key file belongs to another organisation than the folder it was found in."""


class KeyConflict(KeyringError):
    """A different key already exists at this organisation, kind and version."""


@dataclass(frozen=True)
class KdfParams:
    """Argon2id cost. The default is RFC 9106's second recommended option (64 MiB, t=3, p=4),
    which also meets OWASP ASVS 5.0; tests pass cheaper ones. Stored in each file."""

    memory_kib: int = 64 * 1024
    iterations: int = 3
    parallelism: int = 4

    def check(self) -> None:
        # Bounds keep a corrupted or hostile file from asking for a huge computation.
        if not (1 <= self.parallelism <= 64):
            raise ValueError("Argon2 parallelism must be 1..64")
        if not (8 * self.parallelism <= self.memory_kib <= 4 * 1024 * 1024):
            raise ValueError("Argon2 memory must be 8*p KiB .. 4 GiB")
        if not (1 <= self.iterations <= 64):
            raise ValueError("Argon2 iterations must be 1..64")


DEFAULT_KDF: Final = KdfParams()


@dataclass(frozen=True)
class KeyInfo:
    org: str
    kind: str
    version: int
    suite: str
    fingerprint: str
    created: str
    has_private: bool


def check_org(org: str) -> str:
    if org != HUB and not _ORG_RE.match(org):
        raise ValueError(f"invalid organisation code {org!r}")
    return org


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _passphrase_bytes(passphrase: str | bytes) -> bytes:
    # NFC: the same Vietnamese or Lao passphrase typed on two systems may arrive
    # composed or decomposed; both must unlock the keys.
    if isinstance(passphrase, str):
        passphrase = unicodedata.normalize("NFC", passphrase).encode("utf-8")
    if not passphrase:
        raise WrongPassphrase("an empty passphrase protects nothing")
    return passphrase


def _derive(passphrase: bytes, salt: bytes, params: KdfParams) -> tuple[bytes, bytes]:
    """Argon2id, then two labelled HMACs: the file key and a passphrase verifier.

    The verifier lets us tell a wrong passphrase from a tampered file; it costs
    an attacker the same Argon2 run per guess as the AES-GCM tag would.
    """
    master = hash_secret_raw(
        passphrase,
        salt,
        time_cost=params.iterations,
        memory_cost=params.memory_kib,
        parallelism=params.parallelism,
        hash_len=32,
        type=Type.ID,
    )
    key = hmac.new(master, _KEY_LABEL, hashlib.sha256).digest()
    verifier = hmac.new(master, _VERIFIER_LABEL, hashlib.sha256).digest()
    return key, verifier


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Write a file atomically and never over an existing one (keys are not overwritten).

    The data goes to a temporary file in the same folder, is flushed to disk, and
    is then hard-linked into place: the link fails if the name exists, so two
    concurrent rotations cannot both claim a version.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise
        except OSError as exc:
            # Filesystems without hard links: check, then rename (a tiny race).
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
                raise
            if path.exists():
                raise FileExistsError(errno.EEXIST, "key file exists", str(path)) from exc
            os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _load_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise KeyNotFound(f"no key file {path}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise CorruptKeyFile(f"{path} is not valid JSON (truncated?)") from exc
    if not isinstance(data, dict):
        raise CorruptKeyFile(f"{path} is not a key file")
    return data


def _public_from(kind: str, suite: str, raw: bytes) -> HpkePublicKey | Ed25519PublicKey:
    if kind == SIGN:
        if suite != SIGNATURE_ALG:
            raise ValueError(f"unknown signature algorithm {suite!r}")
        return Ed25519PublicKey.from_public_bytes(raw)
    return HpkePublicKey(suite, raw)


def _public_raw(key: HpkePublicKey | Ed25519PublicKey) -> bytes:
    return key.raw if isinstance(key, HpkePublicKey) else key.public_bytes_raw()


_PUBLIC_FIELDS: Final = ("kind", "key_version", "suite", "public_key", "fingerprint", "created")


def parse_public_entry(entry: Any, where: str) -> tuple[str, int, str, bytes, str, str]:
    """Validate one public key record and recompute its fingerprint from its bytes."""
    try:
        kind, version, suite = entry["kind"], entry["key_version"], entry["suite"]
        raw, claimed, created = (
            b64decode(entry["public_key"]),
            entry["fingerprint"],
            entry["created"],
        )
        if kind not in (ENC, SIGN) or type(version) is not int or version < 1:
            raise ValueError("bad kind or key_version")
        if not isinstance(suite, str) or not isinstance(created, str):
            raise ValueError("bad suite or created")
        _public_from(kind, suite, raw)
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptKeyFile(f"{where}: malformed public key record ({exc})") from exc
    if fingerprint(raw) != claimed:
        raise CorruptKeyFile(f"{where}: fingerprint does not match the key")
    return kind, version, suite, raw, claimed, created


class Keyring:
    """Versioned keys per organisation under ``root``. Decrypted keys are cached per object,
    because unlocking one costs a deliberately slow Argon2 run."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        kdf: KdfParams = DEFAULT_KDF,
        enc_suite: str | None = None,
    ) -> None:
        kdf.check()
        if enc_suite not in (None, SUITE_X25519, SUITE_MLKEM768_X25519):
            raise ValueError(f"unknown HPKE suite {enc_suite!r}")
        self.root = Path(root)
        self.kdf = kdf
        self.enc_suite = enc_suite or default_suite()
        self._lock = threading.Lock()
        # The cache remembers which passphrase unlocked a key (as an HMAC under a
        # per-object secret), so a later call with a wrong passphrase still fails.
        self._cache_secret = secrets.token_bytes(32)
        self._cache: dict[tuple[str, str, int], tuple[bytes, Any]] = {}
        # Folder listings by organisation, with the folder's (inode, mtime, ctime).
        self._listing: dict[
            str, tuple[tuple[int, int, int], dict[tuple[str, int], frozenset[str]]]
        ] = {}

    # --- paths and listing ---

    def _path(self, org: str, kind: str, version: int, ext: str) -> Path:
        return self.root / check_org(org) / f"{kind}-v{version}.{ext}.json"

    def _files(self, org: str) -> dict[tuple[str, int], set[str]]:
        """(kind, version) -> {"key", "pub"} found in the organisation's folder.

        Every seal asks for the newest versions, so the listing is remembered while
        the folder's change time stays the same (another process adding a version
        changes it). A listing taken within a second of a change is not remembered:
        a file added in the same clock tick would not move the time.
        """
        folder = self.root / check_org(org)
        try:
            info = os.stat(folder)
        except FileNotFoundError:
            return {}
        stamp = (info.st_ino, info.st_mtime_ns, info.st_ctime_ns)
        cached = self._listing.get(org)
        if cached is not None and cached[0] == stamp:
            return {k: set(v) for k, v in cached[1].items()}
        found: dict[tuple[str, int], set[str]] = {}
        if stat.S_ISDIR(info.st_mode):
            for entry in folder.iterdir():
                match = _FILE_RE.match(entry.name)
                if match:
                    kind, version, ext = match.group(1), int(match.group(2)), match.group(3)
                    found.setdefault((kind, version), set()).add(ext)
        if time.time_ns() - max(info.st_mtime_ns, info.st_ctime_ns) > _SETTLED_NS:
            self._listing[org] = (stamp, {k: frozenset(v) for k, v in found.items()})
        return found

    def orgs(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(
            p.name
            for p in self.root.iterdir()
            if p.is_dir() and (p.name == HUB or _ORG_RE.match(p.name))
        )

    def list_keys(self, org: str | None = None) -> list[KeyInfo]:
        """Every key (own and partners'), oldest first: org, kind, version, fingerprint, created.

        Fingerprints are recomputed from the key bytes, never copied from the file:
        they are what officers read aloud to partners.
        """
        infos = []
        for code in [org] if org else self.orgs():
            for (kind, version), exts in sorted(self._files(code).items()):
                path = self._path(code, kind, version, "pub" if "pub" in exts else "key")
                _, _, suite, _, fp, created = parse_public_entry(_load_json(path), str(path))
                infos.append(KeyInfo(code, kind, version, suite, fp, created, "key" in exts))
        return infos

    def versions(self, org: str, kind: Kind = ENC) -> list[int]:
        return sorted(v for (k, v) in self._files(org) if k == kind)

    def latest_version(self, org: str, kind: Kind = ENC) -> int:
        versions = self.versions(org, kind)
        if not versions:
            raise KeyNotFound(f"no {kind} key for {org}")
        return versions[-1]

    # --- making keys ---

    def _kinds_for(self, org: str) -> tuple[Kind, ...]:
        return (SIGN,) if org == HUB else (ENC, SIGN)

    def _create(self, org: str, kind: str, version: int, passphrase: bytes) -> KeyInfo:
        private: HpkePrivateKey | Ed25519PrivateKey
        if kind == ENC:
            private = HpkePrivateKey.generate(self.enc_suite)
            suite, raw_private, raw_public = (
                self.enc_suite,
                private.private_bytes(),
                private.public.raw,
            )
        else:
            private = Ed25519PrivateKey.generate()
            suite, raw_private = SIGNATURE_ALG, private.private_bytes_raw()
            raw_public = private.public_key().public_bytes_raw()
        created = _now()
        salt = secrets.token_bytes(_SALT_LEN)
        key, verifier = _derive(passphrase, salt, self.kdf)
        header: dict[str, Any] = {
            "format": PRIVATE_FORMAT,
            "version": FILE_VERSION,
            "org": org,
            "kind": kind,
            "key_version": version,
            "suite": suite,
            "public_key": b64encode(raw_public),
            "fingerprint": fingerprint(raw_public),
            "created": created,
            "kdf": {
                "name": "argon2id",
                "argon2_version": 19,
                "memory_kib": self.kdf.memory_kib,
                "iterations": self.kdf.iterations,
                "parallelism": self.kdf.parallelism,
                "salt": b64encode(salt),
                "verifier": verifier.hex(),
            },
        }
        nonce = secrets.token_bytes(12)
        sealed = AESGCM(key).encrypt(nonce, raw_private, canonical_json(header))
        document = {
            **header,
            "cipher": {
                "name": "AES-256-GCM",
                "nonce": b64encode(nonce),
                "ciphertext": b64encode(sealed),
            },
        }
        public = {
            "format": PUBLIC_FORMAT,
            "version": FILE_VERSION,
            "org": org,
            **{name: header[name] for name in _PUBLIC_FIELDS},
        }
        # Private first: a crash in between leaves a key we can still list and use,
        # never a published public key whose private half does not exist.
        try:
            _write_new(self._path(org, kind, version, "key"), _dump(document), 0o600)
            _write_new(self._path(org, kind, version, "pub"), _dump(public), 0o644)
        except FileExistsError as exc:
            raise KeyConflict(
                f"{org} {kind} v{version} already exists (concurrent rotation?)"
            ) from exc
        with self._lock:
            self._cache[(org, kind, version)] = (self._tag(passphrase), private)
        return KeyInfo(org, kind, version, suite, header["fingerprint"], created, True)

    def _check_passphrase(self, passphrase: bytes) -> None:
        """All private keys share one passphrase: refuse to add keys under a different one."""
        for code in self.orgs():
            for (kind, version), exts in sorted(self._files(code).items()):
                if "key" in exts:
                    self._unlock(code, kind, version, passphrase)
                    return

    def init(self, orgs: Iterable[str], passphrase: str | bytes) -> list[KeyInfo]:
        """Create the keys that are missing for ``orgs`` and for the hub itself."""
        secret = _passphrase_bytes(passphrase)
        self._check_passphrase(secret)
        created = []
        for org in dict.fromkeys([HUB, *map(check_org, orgs)]):
            for kind in self._kinds_for(org):
                if not any(k == kind and "key" in e for (k, _), e in self._files(org).items()):
                    version = max(self.versions(org, kind), default=0) + 1
                    created.append(self._create(org, kind, version, secret))
        return created

    def rotate(self, org: str, passphrase: str | bytes) -> int:
        """Make a new version of each of the organisation's key pairs; old versions stay."""
        secret = _passphrase_bytes(passphrase)
        self._check_passphrase(secret)
        kinds = self._kinds_for(check_org(org))
        if not self._files(org):
            # A typo must not silently create a new organisation's keys.
            raise KeyNotFound(f"no keys for {org}: use init to create them")
        version = max((max(self.versions(org, k), default=0) for k in kinds), default=0) + 1
        for kind in kinds:
            self._create(org, kind, version, secret)
        return version

    # --- loading keys ---

    def _tag(self, passphrase: bytes) -> bytes:
        return hmac.new(self._cache_secret, passphrase, hashlib.sha256).digest()

    def _unlock(
        self, org: str, kind: str, version: int, passphrase: bytes
    ) -> HpkePrivateKey | Ed25519PrivateKey:
        cache_key = (org, kind, version)
        tag = self._tag(passphrase)
        with self._lock:
            cached = self._cache.get(cache_key)
        if cached is not None and hmac.compare_digest(cached[0], tag):
            unlocked: HpkePrivateKey | Ed25519PrivateKey = cached[1]
            return unlocked

        path = self._path(org, kind, version, "key")
        data = _load_json(path)
        try:
            cipher = data["cipher"]
            header = {name: value for name, value in data.items() if name != "cipher"}
            if data["format"] != PRIVATE_FORMAT or data["version"] != FILE_VERSION:
                raise CorruptKeyFile(f"{path}: unknown key file format or version")
            if data["org"] != org:
                raise WrongOrganisation(f"{path} holds a key of {data['org']!r}, not of {org!r}")
            if data["kind"] != kind or data["key_version"] != version:
                raise CorruptKeyFile(f"{path}: kind or version does not match its name")
            kdf = data["kdf"]
            if kdf["name"] != "argon2id" or kdf["argon2_version"] != 19:
                raise CorruptKeyFile(f"{path}: unknown key derivation")
            params = KdfParams(kdf["memory_kib"], kdf["iterations"], kdf["parallelism"])
            params.check()
            salt, verifier = b64decode(kdf["salt"]), bytes.fromhex(kdf["verifier"])
            if cipher["name"] != "AES-256-GCM":
                raise CorruptKeyFile(f"{path}: unknown cipher")
            nonce, sealed = b64decode(cipher["nonce"]), b64decode(cipher["ciphertext"])
            suite, public_raw = data["suite"], b64decode(data["public_key"])
            if len(salt) < _SALT_LEN or len(nonce) != 12:
                raise CorruptKeyFile(f"{path}: salt or nonce has the wrong length")
        except KeyringError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CorruptKeyFile(f"{path}: malformed key file ({exc})") from exc

        key, expected = _derive(passphrase, salt, params)
        if not hmac.compare_digest(expected, verifier):
            raise WrongPassphrase(f"the passphrase does not unlock {org} {kind} v{version}")
        try:
            raw = AESGCM(key).decrypt(nonce, sealed, canonical_json(header))
        except InvalidTag as exc:
            raise CorruptKeyFile(f"{path} was altered: its contents do not authenticate") from exc

        try:
            private: HpkePrivateKey | Ed25519PrivateKey
            if kind == ENC:
                private = HpkePrivateKey.from_bytes(suite, raw)
                derived = private.public.raw
            else:
                private = Ed25519PrivateKey.from_private_bytes(raw)
                derived = private.public_key().public_bytes_raw()
        except ValueError as exc:
            raise CorruptKeyFile(f"{path}: the decrypted key is unusable ({exc})") from exc
        if derived != public_raw or fingerprint(derived) != data["fingerprint"]:
            raise CorruptKeyFile(f"{path}: the private key does not match its public key")
        with self._lock:
            self._cache[cache_key] = (tag, private)
        return private

    @overload
    def load_private(
        self, org: str, kind: Literal["enc"], version: int | None, passphrase: str | bytes
    ) -> HpkePrivateKey: ...
    @overload
    def load_private(
        self, org: str, kind: Literal["sign"], version: int | None, passphrase: str | bytes
    ) -> Ed25519PrivateKey: ...
    def load_private(
        self, org: str, kind: Kind, version: int | None, passphrase: str | bytes
    ) -> HpkePrivateKey | Ed25519PrivateKey:
        """Decrypt one private key (``version=None``: the newest)."""
        if version is None:
            version = self.latest_version(org, kind)
        if not self._path(org, kind, version, "key").exists():
            raise KeyNotFound(f"no private {kind} key v{version} for {org}")
        return self._unlock(org, kind, version, _passphrase_bytes(passphrase))

    @overload
    def load_public(
        self, org: str, kind: Literal["enc"], version: int | None = None
    ) -> HpkePublicKey: ...
    @overload
    def load_public(
        self, org: str, kind: Literal["sign"], version: int | None = None
    ) -> Ed25519PublicKey: ...
    def load_public(
        self, org: str, kind: Kind, version: int | None = None
    ) -> HpkePublicKey | Ed25519PublicKey:
        """A public key (``version=None``: the newest); works for partners' keys too."""
        if version is None:
            version = self.latest_version(org, kind)
        return self._load_public(org, kind, version)

    def _load_public(self, org: str, kind: str, version: int) -> HpkePublicKey | Ed25519PublicKey:
        path = self._path(org, kind, version, "pub")
        data = _load_json(path)
        if data.get("format") != PUBLIC_FORMAT or data.get("version") != FILE_VERSION:
            raise CorruptKeyFile(f"{path}: unknown public key format or version")
        if data.get("org") != org:
            raise WrongOrganisation(f"{path} holds a key of {data.get('org')!r}, not of {org!r}")
        got_kind, got_version, suite, raw, _, _ = parse_public_entry(data, str(path))
        if (got_kind, got_version) != (kind, version):
            raise CorruptKeyFile(f"{path}: kind or version does not match its name")
        private_path = self._path(org, kind, version, "key")
        if private_path.exists():
            # Our own key: a public file swapped for another key would have us seal
            # to someone else. The private file's header names the true public key.
            header = _load_json(private_path)
            if header.get("public_key") != data.get("public_key"):
                raise CorruptKeyFile(f"{path} does not match the private key beside it")
        return _public_from(kind, suite, raw)

    def known_signers(self) -> dict[str, KnownSigner]:
        """Every signing public key in the keyring, by fingerprint (for verifying packages)."""
        signers = {}
        for info in self.list_keys():
            if info.kind == SIGN and info.org != HUB:
                public = self.load_public(info.org, SIGN, info.version)
                signer = KnownSigner(info.org, info.version, public)
                signers[signer.fingerprint] = signer
        return signers

    # --- exchanging public keys ---

    def export_public(self, org: str) -> str:
        """All public keys of ``org`` as one JSON text, for a partner to import."""
        keys = []
        for (kind, version), _ in sorted(self._files(check_org(org)).items()):
            key = self._load_public(org, kind, version)
            data = _load_json(self._path(org, kind, version, "pub"))
            keys.append(
                {
                    "kind": kind,
                    "key_version": version,
                    "suite": data["suite"],
                    "public_key": b64encode(_public_raw(key)),
                    "fingerprint": fingerprint(_public_raw(key)),
                    "created": data["created"],
                }
            )
        if not keys:
            raise KeyNotFound(f"no keys for {org}")
        document = {"format": EXPORT_FORMAT, "version": FILE_VERSION, "org": org, "keys": keys}
        return json.dumps(document, indent=2, sort_keys=True) + "\n"

    def import_public(self, text: str | bytes) -> list[str]:
        """Store a partner's public keys; return their fingerprints to confirm out of band.

        A key already present is accepted if identical; a different key at the same
        version is refused (that is what a substituted key looks like).
        """
        try:
            document = json.loads(text)
            if document["format"] != EXPORT_FORMAT or document["version"] != FILE_VERSION:
                raise CorruptKeyFile("not a BLO Hub public key export (format or version)")
            org = check_org(document["org"])
            entries = document["keys"]
            if not isinstance(entries, list) or not entries:
                raise CorruptKeyFile("the export holds no keys")
        except KeyringError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptKeyFile(f"malformed public key export ({exc})") from exc
        if org == HUB:
            raise WrongOrganisation(
                "_hub is this hub's own folder; a partner's keys go under its code"
            )

        parsed = [parse_public_entry(entry, f"{org} key {i}") for i, entry in enumerate(entries)]
        # Check everything before writing anything, so a refused import changes nothing.
        for kind, version, _suite, _raw, fp, _created in parsed:
            existing = self._existing_fingerprint(org, kind, version)
            if existing is not None and existing != fp:
                raise KeyConflict(f"{org} already has a different {kind} key at version {version}")
        for kind, version, suite, raw, fp, created in parsed:
            if self._existing_fingerprint(org, kind, version) is None:
                public = {
                    "format": PUBLIC_FORMAT,
                    "version": FILE_VERSION,
                    "org": org,
                    "kind": kind,
                    "key_version": version,
                    "suite": suite,
                    "public_key": b64encode(raw),
                    "fingerprint": fp,
                    "created": created,
                }
                _write_new(self._path(org, kind, version, "pub"), _dump(public), 0o644)
        return [fp for *_, fp, _created in parsed]

    def _existing_fingerprint(self, org: str, kind: str, version: int) -> str | None:
        exts = self._files(org).get((kind, version), set())
        for ext in ("pub", "key"):
            if ext in exts:
                return str(_load_json(self._path(org, kind, version, ext)).get("fingerprint"))
        return None


def _dump(document: dict[str, Any]) -> bytes:
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode("utf-8")
