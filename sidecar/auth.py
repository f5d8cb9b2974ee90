"""Caller authentication: ``Authorization: Bearer <JWT>`` -> :class:`Principal`.

Two verifiers share one claim check and one verified-token cache:

* :class:`SecretAuthenticator` — HS256 with a shared secret (at least 32 bytes).
* :class:`JwksAuthenticator` — RS256/ES256 with keys from a JWKS URL, refreshed periodically
  and refetched (at most once per ``min_refetch_s``) when a token names an unknown ``kid``.

Algorithms are pinned per verifier, so ``alg: none`` and HS/RS confusion (an HS256 token
"signed" with a public key) are refused by construction. Time claims (``exp`` required,
``nbf``/``iat`` optional) are checked here against an injectable clock rather than by PyJWT, so
the cache and the verifier agree on "now" and numeric strings such as ``"exp": "123"`` are
refused. A repeated token costs one dict lookup: the cache is keyed by the raw header value,
holds only successes, and an entry lives until the token's ``exp`` or ``cache_ttl_s``, whichever
comes first (so a key removed from the JWKS stops admitting tokens within the TTL; a JWKS change
also clears the cache at once).
"""

from __future__ import annotations

import abc
import asyncio
import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol, TypeGuard

import aiohttp
import jwt
import structlog
from aiohttp import web

from kernel.headers import bearer_token as parse_bearer
from kernel.tasks import stop_task
from kernel.ttl_cache import TtlCache

log = structlog.get_logger("sidecar.auth")

JWKS_ALGORITHMS: Final = ("RS256", "ES256")
MIN_SECRET_BYTES: Final = 32
DEFAULT_LEEWAY_S = 5.0  # clock skew allowed on exp/nbf/iat; --jwt-leeway-s
_JWKS_MAX_BYTES: Final = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Principal:
    id: str
    roles: tuple[str, ...]
    team: str | None


# The caller authenticated once for a request (by the router), reused by the pipeline.
PRINCIPAL = web.RequestKey("principal", Principal)


class AuthError(Exception):
    """The caller is not authenticated; ``detail`` is safe to show (RFC 9457 ``detail``).

    ``error`` is the RFC 6750 error code for ``WWW-Authenticate`` (None when no credentials
    were sent at all, as the RFC asks)."""

    def __init__(self, detail: str, *, error: str | None = "invalid_token") -> None:
        super().__init__(detail)
        self.detail = detail
        self.error = error

    @property
    def www_authenticate(self) -> str:
        if self.error is None:
            return "Bearer"
        return f'Bearer error="{self.error}", error_description="{self.detail}"'


class Authenticator(Protocol):
    async def authenticate(self, authorization: str | None) -> Principal: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


def bearer_token(authorization: str | None) -> str:
    """The token of a ``Bearer`` Authorization value, or the RFC 6750 error for its absence."""
    if not authorization:
        raise AuthError("missing bearer token", error=None)
    token = parse_bearer(authorization)
    if token is None:
        raise AuthError("authorization must be 'Bearer <token>'", error="invalid_request")
    return token


def _number(value: Any) -> TypeGuard[int | float]:
    # bool is an int subclass and "123" would pass int(); neither is a NumericDate.
    t = type(value)
    return t is int or (t is float and math.isfinite(value))


def _pyjwt_error(exc: jwt.PyJWTError) -> AuthError:
    if isinstance(exc, jwt.InvalidSignatureError):
        return AuthError("token signature is invalid")
    if isinstance(exc, jwt.InvalidAlgorithmError):
        return AuthError("token algorithm is not accepted")
    if isinstance(exc, jwt.InvalidAudienceError):
        return AuthError("token audience is not accepted")
    if isinstance(exc, jwt.InvalidIssuerError):
        return AuthError("token issuer is not accepted")
    if isinstance(exc, jwt.exceptions.InvalidSubjectError):
        return AuthError("token 'sub' claim must be a non-empty string")
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return AuthError(f"token lacks the {exc.claim!r} claim")
    if isinstance(exc, jwt.InvalidKeyError):
        return AuthError("token signing key is not acceptable")
    if isinstance(exc, jwt.DecodeError):
        return AuthError("token is malformed")
    return AuthError("token is invalid")


class _CachingAuthenticator(abc.ABC):
    """Bearer parsing, claim checks and the verified-token cache; subclasses verify signatures."""

    def __init__(
        self,
        *,
        leeway_s: float,
        audience: str | None,
        issuer: str | None,
        cache_size: int,
        cache_ttl_s: float,
        clock: Callable[[], float],
    ) -> None:
        if leeway_s < 0 or cache_size < 0 or cache_ttl_s < 0:
            raise ValueError("leeway_s, cache_size and cache_ttl_s must not be negative")
        self.leeway_s = float(leeway_s)
        self.audience = audience
        self.issuer = issuer
        self._cache_ttl_s = cache_ttl_s
        self._clock = clock
        # Verified principals by raw header value, oldest write dropped first when full.
        self._cache: TtlCache[str, Principal] = TtlCache(cache_ttl_s, cache_size, clock)
        # exp/nbf/iat are checked in _principal (our clock, strict types); PyJWT keeps the
        # signature, aud, iss and required-claim checks.
        self._jwt = jwt.PyJWT(
            options={
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "require": ["exp", "sub"],
                "enforce_minimum_key_length": True,
            }
        )

    async def authenticate(self, authorization: str | None) -> Principal:
        if authorization is None:
            raise AuthError("missing bearer token", error=None)
        hit = self._cache.get(authorization)
        if hit is not None:
            return hit
        claims = await self._verify(bearer_token(authorization))
        now = self._clock()
        principal, exp = self._principal(claims, now)
        # Until the token's exp or the cache TTL, whichever comes first (nothing when past).
        self._cache.put(authorization, principal, ttl=min(exp - now, self._cache_ttl_s))
        return principal

    def clear_cache(self) -> None:
        self._cache.clear()

    @abc.abstractmethod
    async def _verify(self, token: str) -> dict[str, Any]:
        """The token's claims once its signature checks out (raises AuthError otherwise)."""

    def _decode(self, token: str, key: Any, algorithms: list[str]) -> dict[str, Any]:
        try:
            claims = self._jwt.decode(
                token, key, algorithms=algorithms, audience=self.audience, issuer=self.issuer
            )
        except jwt.PyJWTError as exc:
            raise _pyjwt_error(exc) from None
        if not isinstance(claims, dict):
            raise AuthError("token payload is not a JSON object")
        return claims

    def _principal(self, claims: Mapping[str, Any], now: float) -> tuple[Principal, float]:
        """Check the claims against ``now``; return the principal and the token's ``exp``."""
        leeway = self.leeway_s
        exp = claims.get("exp")
        if not _number(exp):
            raise AuthError("token 'exp' claim must be a number")
        if exp <= now - leeway:
            raise AuthError("token has expired")
        for claim in ("nbf", "iat"):
            value = claims.get(claim)
            if value is None:
                continue
            if not _number(value):
                raise AuthError(f"token {claim!r} claim must be a number")
            if value > now + leeway:
                raise AuthError("token is not yet valid")
        sub = claims.get("sub")
        if type(sub) is not str or not sub:
            raise AuthError("token 'sub' claim must be a non-empty string")
        roles = claims.get("roles")
        if roles is None:
            roles_t: tuple[str, ...] = ()
        elif type(roles) is list and all(type(r) is str for r in roles):
            roles_t = tuple(roles)
        else:
            raise AuthError("token 'roles' claim must be a list of strings")
        team = claims.get("team")
        if team is not None and (type(team) is not str or not team):
            raise AuthError("token 'team' claim must be a non-empty string")
        return Principal(sub, roles_t, team), float(exp)


class SecretAuthenticator(_CachingAuthenticator):
    """HS256 tokens signed with one shared secret."""

    def __init__(
        self,
        secret: bytes,
        *,
        leeway_s: float = DEFAULT_LEEWAY_S,
        audience: str | None = None,
        issuer: str | None = None,
        cache_size: int = 10_000,
        cache_ttl_s: float = 60,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(secret, bytes):
            raise TypeError("secret must be bytes")
        if len(secret) < MIN_SECRET_BYTES:
            raise ValueError(
                f"HS256 secret must be at least {MIN_SECRET_BYTES} bytes, got {len(secret)}"
            )
        super().__init__(
            leeway_s=leeway_s,
            audience=audience,
            issuer=issuer,
            cache_size=cache_size,
            cache_ttl_s=cache_ttl_s,
            clock=clock,
        )
        self._secret = secret

    @classmethod
    def from_file(cls, path: str | Path, **kwargs: Any) -> SecretAuthenticator:
        """Read the secret from ``path``; one trailing newline (as editors add) is dropped."""
        data = Path(path).read_bytes()
        if data.endswith(b"\r\n"):
            data = data[:-2]
        elif data.endswith(b"\n"):
            data = data[:-1]
        if not data:
            raise ValueError(f"secret file {path} is empty")
        return cls(data, **kwargs)

    async def start(self) -> None:
        """Nothing to load; present so both authenticators start and close alike."""

    async def close(self) -> None:
        """Nothing to release."""

    async def _verify(self, token: str) -> dict[str, Any]:
        return self._decode(token, self._secret, ["HS256"])


class JwksAuthenticator(_CachingAuthenticator):
    """RS256/ES256 tokens verified with the signing keys published at a JWKS URL.

    :meth:`start` fetches the keys (and fails loudly if it cannot) and starts a background
    refresh every ``refresh_s``; a failed refresh keeps the previous keys. A token naming an
    unknown ``kid`` triggers one refetch, at most once per ``min_refetch_s`` across all callers,
    so a flood of forged ``kid`` values cannot hammer the identity provider. Symmetric (``oct``)
    keys and keys for other algorithms are ignored: a JWKS is public, so an HMAC key in it would
    be a forgery vector."""

    def __init__(
        self,
        url: str,
        *,
        session: aiohttp.ClientSession | None = None,
        refresh_s: float = 300,
        leeway_s: float = DEFAULT_LEEWAY_S,
        audience: str | None = None,
        issuer: str | None = None,
        min_refetch_s: float = 10,
        fetch_timeout_s: float = 10,
        cache_size: int = 10_000,
        cache_ttl_s: float = 60,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(
            leeway_s=leeway_s,
            audience=audience,
            issuer=issuer,
            cache_size=cache_size,
            cache_ttl_s=cache_ttl_s,
            clock=clock,
        )
        self.url = url
        self.refresh_s = refresh_s
        self.min_refetch_s = min_refetch_s
        self._timeout = aiohttp.ClientTimeout(total=fetch_timeout_s)
        self._session = session
        self._own_session = session is None
        self._keys: dict[str, jwt.PyJWK] = {}
        self._anonymous: list[jwt.PyJWK] = []  # keys without a kid
        self._fingerprint: object = None
        self._last_refetch: float | None = None
        self._refetch_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self.fetches = 0  # successful and failed fetch attempts, for tests and metrics

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(self._keys)

    async def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        await self.refresh()
        if self._task is None and self.refresh_s > 0:
            self._task = asyncio.create_task(self._refresh_loop(), name="jwks-refresh")

    async def close(self) -> None:
        await stop_task(self._task)
        self._task = None
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def refresh(self) -> None:
        """Fetch the JWKS and swap the key set in; raises (keeping the old keys) on failure."""
        if self._session is None:
            raise RuntimeError("JwksAuthenticator not started")
        self.fetches += 1
        async with self._session.get(self.url, timeout=self._timeout) as resp:
            resp.raise_for_status()
            body = await resp.content.read(_JWKS_MAX_BYTES + 1)
        if len(body) > _JWKS_MAX_BYTES:
            raise ValueError(f"JWKS at {self.url} is larger than {_JWKS_MAX_BYTES} bytes")
        self._install(_parse_jwks(body))

    def _install(self, parsed: list[tuple[str, jwt.PyJWK]]) -> None:
        fingerprint = sorted(canonical for canonical, _ in parsed)
        if fingerprint == self._fingerprint:
            return
        keys = [k for _, k in parsed]
        self._keys = {k.key_id: k for k in keys if k.key_id}
        self._anonymous = [k for k in keys if not k.key_id]
        if self._fingerprint is not None:
            # A removed or replaced key must stop admitting tokens now, not at cache expiry.
            self.clear_cache()
            log.info("jwks_rotated", url=self.url, kids=sorted(self._keys))
        self._fingerprint = fingerprint

    async def _refresh_loop(self) -> None:
        delay = self.refresh_s
        while True:
            await asyncio.sleep(delay)
            try:
                await self.refresh()
                delay = self.refresh_s
            except Exception as exc:  # keep serving with the keys we have
                log.warning("jwks_refresh_failed", url=self.url, error=repr(exc))
                delay = min(self.refresh_s, 30.0)

    async def _verify(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise _pyjwt_error(exc) from None
        alg = header.get("alg")
        if alg not in JWKS_ALGORITHMS:
            raise AuthError("token algorithm is not accepted")
        kid = header.get("kid")
        key = self._key_for(kid)
        if key is None:
            key = await self._refetch_for(kid)
        return self._decode(token, key, [key.algorithm_name])

    def _key_for(self, kid: str | None) -> jwt.PyJWK | None:
        if kid is not None:
            return self._keys.get(kid)
        # No kid: acceptable only when the set leaves no choice.
        if len(self._anonymous) + len(self._keys) == 1:
            return self._anonymous[0] if self._anonymous else next(iter(self._keys.values()))
        raise AuthError("token has no 'kid' and the key set holds several keys")

    async def _refetch_for(self, kid: str | None) -> jwt.PyJWK:
        async with self._refetch_lock:
            key = self._key_for(kid)  # another caller's refetch may have brought it
            if key is not None:
                return key
            now = time.monotonic()
            last = self._last_refetch
            if last is None or not 0 <= now - last < self.min_refetch_s:
                self._last_refetch = now
                try:
                    await self.refresh()
                except Exception as exc:
                    log.warning("jwks_refetch_failed", url=self.url, error=repr(exc))
                    raise AuthError("token signing keys are unavailable") from None
                key = self._key_for(kid)
                if key is not None:
                    return key
        raise AuthError("token signing key is unknown")


def parse_jwks(body: bytes | str | Mapping[str, Any]) -> list[jwt.PyJWK]:
    """The RS256/ES256 signature keys of a JWKS document; ValueError when there are none."""
    return [k for _, k in _parse_jwks(body)]


def _parse_jwks(body: bytes | str | Mapping[str, Any]) -> list[tuple[str, jwt.PyJWK]]:
    # Each key is kept with its canonical JSON so a refresh can tell whether anything changed.
    # Keys are built one by one (as jwt.PyJWKSet does) so each stays paired with its JSON.
    try:
        doc = json.loads(body) if isinstance(body, (bytes, str)) else body
    except RecursionError:
        raise ValueError("JWKS is nested too deeply") from None
    if not isinstance(doc, Mapping) or not isinstance(doc.get("keys"), list):
        raise ValueError("JWKS must be a JSON object with a 'keys' list")
    out: list[tuple[str, jwt.PyJWK]] = []
    for data in doc["keys"]:
        if not isinstance(data, dict) or data.get("kty") not in ("RSA", "EC"):
            continue  # never an "oct" (HMAC) key from a public document
        if data.get("use", "sig") != "sig":
            continue
        try:
            key = jwt.PyJWK(data)
        except jwt.PyJWTError:
            continue
        if key.algorithm_name in JWKS_ALGORITHMS:
            out.append((json.dumps(data, sort_keys=True), key))
    if not out:
        raise ValueError(f"JWKS holds no {'/'.join(JWKS_ALGORITHMS)} signing keys")
    return out
