"""OPA bundle signatures: ``.signatures.json`` holding one JWT over the bundle's file hashes.

Format (what OPA's ``opa build --signing-key`` writes and ``opa run --verification-key``
checks)::

    .signatures.json = {"signatures": ["<JWT>"]}
    JWT header       = {"alg": "RS256", "typ": "JWT", "kid": "<keyid>"}      (kid only if given)
    JWT claims       = {"files": [{"name": "greenlang/decision/main.rego",
                                   "hash": "<hex digest>", "algorithm": "SHA-256"}, ...],
                        "keyid": "<keyid>",       (deprecated claim, kept for older OPAs)
                        "scope": "<scope>"}       (only if given; OPA requires it to equal
                                                   its configured scope, default "")

``files`` names every file of the bundle except ``.signatures.json`` itself, without a
leading ``/``. OPA refuses a bundle with a file not in the list, a listed file that is missing,
or a digest that does not match. Digests follow OPA's rule (``v1/bundle/hash.go``):

* ``.rego`` and other unstructured files: the hash of the raw bytes;
* structured files (``data.json``, ``.manifest``): the file is parsed as JSON (numbers kept
  as written) and hashed in a canonical form — objects as ``{`` + ``"key":value`` pairs in
  sorted key order joined by ``,`` + ``}``, arrays as ``[`` + values joined by ``,`` + ``]``,
  strings and other scalars as Go's ``encoding/json`` writes them without HTML escaping. So the
  signature does not depend on whitespace or key order in those files.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt

SIGNATURES_FILE = ".signatures.json"
DEFAULT_HASH = "SHA-256"
STRUCTURED_BASENAMES = frozenset({"data.json", ".manifest", "data.yaml", "signatures.json"})
HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
)
SUPPORTED_ALGORITHMS = HMAC_ALGORITHMS | ASYMMETRIC_ALGORITHMS

_HASHES: dict[str, Callable[[], Any]] = {
    "MD5": hashlib.md5,
    "SHA-1": hashlib.sha1,
    "SHA-224": hashlib.sha224,
    "SHA-256": hashlib.sha256,
    "SHA-384": hashlib.sha384,
    "SHA-512": hashlib.sha512,
    "SHA-512-224": lambda: hashlib.new("sha512_224"),
    "SHA-512-256": lambda: hashlib.new("sha512_256"),
}


class SignatureError(Exception):
    """A bundle signature is missing, malformed, or does not verify."""


KeyMaterial = str | bytes | Path


@dataclass(frozen=True)
class SigningConfig:
    """How to sign a bundle.

    ``key``: for RS*/PS*/ES* a PEM private key (a path, or the PEM text/bytes); for HS* the
    shared secret (a string/bytes, or a path to a file holding it — like OPA's
    ``--signing-key``, a string naming an existing file is read).
    ``keyid`` becomes the JWT ``kid`` header (and the deprecated ``keyid`` claim): OPA uses it
    to pick the verification key from its ``keys`` config when the bundle's ``signing.keyid``
    is not set. ``scope`` must match OPA's configured scope (``--scope``). ``claims`` adds
    further claims (e.g. ``iss``)."""

    key: KeyMaterial
    algorithm: str = "RS256"
    keyid: str | None = None
    scope: str | None = None
    claims: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.algorithm not in SUPPORTED_ALGORITHMS:
            raise SignatureError(
                f"unsupported signing algorithm {self.algorithm!r}; "
                f"use one of {sorted(SUPPORTED_ALGORITHMS)}"
            )


@dataclass(frozen=True)
class VerifiedBundle:
    """What :func:`verify_signatures` checked."""

    files: tuple[str, ...]
    claims: Mapping[str, Any]
    header: Mapping[str, Any]


# ---------------------------------------------------------------------------------------------
# hashing (OPA's rule)


class _Number(str):
    """A JSON number kept as the literal text it was written as (Go's ``json.Number``)."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid JSON constant {name}")


def is_structured(name: str) -> bool:
    """OPA's ``IsStructuredDoc``: files hashed as parsed JSON, not as bytes."""
    return name.rsplit("/", 1)[-1] in STRUCTURED_BASENAMES


def go_json_string(s: str) -> bytes:
    """A string as Go's ``encoding/json`` encodes it with HTML escaping off (Go >= 1.22)."""
    out = json.dumps(s, ensure_ascii=False)
    return out.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").encode()


def _walk(value: Any, h: Any) -> None:
    if isinstance(value, dict):
        h.update(b"{")
        for i, key in enumerate(sorted(value)):
            if i:
                h.update(b",")
            h.update(go_json_string(key))
            h.update(b":")
            _walk(value[key], h)
        h.update(b"}")
    elif isinstance(value, list):
        h.update(b"[")
        for i, item in enumerate(value):
            if i:
                h.update(b",")
            _walk(item, h)
        h.update(b"]")
    elif isinstance(value, _Number):
        h.update(str.__str__(value).encode())
    elif value is True:
        h.update(b"true")
    elif value is False:
        h.update(b"false")
    elif value is None:
        h.update(b"null")
    elif isinstance(value, str):
        h.update(go_json_string(value))
    else:  # pragma: no cover - json.loads yields nothing else
        raise SignatureError(f"cannot hash value of type {type(value).__name__}")


def file_digest(name: str, content: bytes, algorithm: str = DEFAULT_HASH) -> str:
    """Hex digest of one bundle file as OPA computes it for ``.signatures.json``."""
    factory = _HASHES.get(algorithm)
    if factory is None:
        raise SignatureError(f"{name}: unsupported hashing algorithm {algorithm!r}")
    h = factory()
    if is_structured(name):
        if name.endswith((".yaml", ".yml")):
            raise SignatureError(f"{name}: YAML data files are not supported here")
        try:
            value = json.loads(
                content.decode("utf-8"),
                parse_float=_Number,
                parse_int=_Number,
                parse_constant=_reject_constant,
            )
        except ValueError as e:
            raise SignatureError(f"{name}: not valid JSON: {e}") from e
        _walk(value, h)
    else:
        h.update(content)
    return str(h.hexdigest())


def signed_files(files: Mapping[str, bytes]) -> list[dict[str, str]]:
    """The ``files`` claim for a bundle: every file but ``.signatures.json``, name-sorted."""
    return [
        {"name": name, "hash": file_digest(name, files[name]), "algorithm": DEFAULT_HASH}
        for name in sorted(files)
        if name != SIGNATURES_FILE
    ]


# ---------------------------------------------------------------------------------------------
# signing


def _load_key(key: KeyMaterial) -> bytes:
    if isinstance(key, Path):
        return key.read_bytes()
    if isinstance(key, str):
        if "\n" not in key and len(key) < 4096 and os.path.isfile(key):
            return Path(key).read_bytes()
        return key.encode()
    return bytes(key)


def sign_files(files: Mapping[str, bytes], config: SigningConfig) -> str:
    """The JWT over ``files`` (which must include ``.manifest``)."""
    claims: dict[str, Any] = {"files": signed_files(files)}
    if config.keyid:
        claims["keyid"] = config.keyid
    if config.scope:
        claims["scope"] = config.scope
    for k, v in config.claims.items():
        if k == "files":
            raise SignatureError("the 'files' claim is computed, not configurable")
        claims[k] = v
    headers = {"kid": config.keyid} if config.keyid else None
    key = _load_key(config.key)
    try:
        return jwt.encode(claims, key, algorithm=config.algorithm, headers=headers)
    except NotImplementedError as e:  # PyJWT without `cryptography` has no RS*/PS*/ES*
        raise SignatureError(f"{config.algorithm} needs PyJWT[crypto]: {e}") from e
    except (ValueError, TypeError, jwt.PyJWTError) as e:
        raise SignatureError(f"cannot sign with {config.algorithm}: {e}") from e


def signatures_document(files: Mapping[str, bytes], config: SigningConfig) -> bytes:
    """The bytes of ``.signatures.json`` for a bundle made of ``files``."""
    token = sign_files(files, config)
    return (json.dumps({"signatures": [token]}, indent=1) + "\n").encode()


# ---------------------------------------------------------------------------------------------
# verifying (our own checks; OPA does the same when it loads the bundle)


def verify_files(
    files: Mapping[str, bytes],
    key: KeyMaterial,
    *,
    algorithm: str = "RS256",
    scope: str | None = None,
    exclude: Sequence[str] = (),
) -> VerifiedBundle:
    """Verify a bundle's files against its ``.signatures.json`` the way OPA does.

    ``key`` is the public key (PEM path/text) for RS*/PS*/ES*, the shared secret for HS*.
    ``exclude`` lists bundle file names left out of verification (OPA's
    ``--exclude-files-verify``)."""
    if algorithm not in SUPPORTED_ALGORITHMS:
        raise SignatureError(f"unsupported verification algorithm {algorithm!r}")
    raw = files.get(SIGNATURES_FILE)
    if raw is None:
        raise SignatureError(f"bundle has no {SIGNATURES_FILE}")
    try:
        doc = json.loads(raw)
    except ValueError as e:
        raise SignatureError(f"{SIGNATURES_FILE} is not JSON: {e}") from e
    tokens = doc.get("signatures") if isinstance(doc, dict) else None
    if not isinstance(tokens, list) or len(tokens) != 1 or not isinstance(tokens[0], str):
        raise SignatureError(f"{SIGNATURES_FILE}: expected exactly one JWT in 'signatures'")
    token = tokens[0]
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(
            token,
            _load_key(key),
            algorithms=[algorithm],
            options={"verify_aud": False, "verify_iss": False},
        )
    except (ValueError, TypeError, NotImplementedError, jwt.PyJWTError) as e:
        raise SignatureError(f"bundle signature does not verify: {e}") from e

    if claims.get("scope", "") != (scope or ""):
        raise SignatureError(
            f"scope mismatch: signature has {claims.get('scope', '')!r}, expected {scope or ''!r}"
        )

    listed: dict[str, Mapping[str, Any]] = {}
    for entry in claims.get("files") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise SignatureError(f"malformed entry in the 'files' claim: {entry!r}")
        listed[entry["name"]] = entry

    verified: list[str] = []
    for name in sorted(files):
        if name == SIGNATURES_FILE:
            continue
        if name in exclude:
            listed.pop(name, None)
            continue
        entry = listed.pop(name, None)
        if entry is None:
            raise SignatureError(f"file {name} not included in bundle signature")
        alg = entry.get("algorithm")
        if not alg:
            raise SignatureError(f"no hashing algorithm provided for file {name}")
        got = file_digest(name, files[name], str(alg))
        if got != str(entry.get("hash", "")).lower():
            raise SignatureError(f"{name}: digest mismatch (want: {entry.get('hash')}, got: {got})")
        verified.append(name)
    if listed:
        raise SignatureError(
            f"file(s) {sorted(listed)} specified in bundle signatures but not found in the bundle"
        )
    return VerifiedBundle(files=tuple(verified), claims=claims, header=header)


def verify_signatures(
    bundle_path: Path | str,
    key: KeyMaterial,
    *,
    algorithm: str = "RS256",
    scope: str | None = None,
    exclude: Sequence[str] = (),
) -> VerifiedBundle:
    """Verify a bundle archive's signature and every file's digest; raise SignatureError."""
    from bundles.bundle import read_bundle_files  # bundle.py imports this module

    return verify_files(
        read_bundle_files(bundle_path), key, algorithm=algorithm, scope=scope, exclude=exclude
    )


def read_signature_claims(bundle_path: Path | str) -> dict[str, Any]:
    """The JWT claims of a signed bundle, NOT verified (for display and debugging)."""
    from bundles.bundle import read_bundle_files

    raw = read_bundle_files(bundle_path).get(SIGNATURES_FILE)
    if raw is None:
        raise SignatureError(f"{bundle_path}: bundle has no {SIGNATURES_FILE}")
    token = json.loads(raw)["signatures"][0]
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims
