"""Bearer-token authentication: HS256 shared secret and RS256/ES256 keys from a real JWKS server."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from sidecar.auth import (
    AuthError,
    JwksAuthenticator,
    Principal,
    SecretAuthenticator,
    bearer_token,
    parse_jwks,
)
from tests.support.servers import free_port

SECRET = b"s" * 16 + b"e" * 16  # 32 bytes
NOW = 1_800_000_000.0


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"sub": "alice", "exp": NOW + 3600, "roles": ["analyst"], "team": "cbam"}
    doc.update(overrides)
    return {k: v for k, v in doc.items() if v is not ...}


def hs(payload: dict[str, Any], secret: bytes = SECRET, **headers: Any) -> str:
    return jwt.encode(payload, secret, algorithm="HS256", headers=headers or None)


def unsigned(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    head = b64(json.dumps(header).encode())
    body = b64(json.dumps(payload).encode())
    return f"{head}.{body}.{b64(signature)}"


def hmac_token(header: dict[str, Any], payload: dict[str, Any], key: bytes) -> str:
    """An HS256 token made by hand (PyJWT refuses PEM-looking HMAC keys when encoding)."""
    head = b64(json.dumps(header).encode())
    body = b64(json.dumps(payload).encode())
    sig = hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"


class CountingSecret(SecretAuthenticator):
    """Counts signature verifications, to see which calls the cache answered."""

    verified = 0

    async def _verify(self, token: str) -> dict[str, Any]:
        self.verified += 1
        return await super()._verify(token)


def secret_auth(clock: Clock | None = None, **kwargs: Any) -> CountingSecret:
    return CountingSecret(SECRET, clock=clock or Clock(), **kwargs)


async def rejects(auth: Any, header: str | None, fragment: str) -> AuthError:
    with pytest.raises(AuthError) as info:
        await auth.authenticate(header)
    assert fragment in info.value.detail, info.value.detail
    return info.value


# --- Authorization header -----------------------------------------------------------------


def test_bearer_token_parsing() -> None:
    assert bearer_token("Bearer abc.def.ghi") == "abc.def.ghi"
    assert bearer_token("bearer   abc") == "abc"
    assert bearer_token("BEARER abc") == "abc"
    for bad in ("Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "abc.def.ghi", "Bearerabc"):
        with pytest.raises(AuthError) as info:
            bearer_token(bad)
        assert info.value.error == "invalid_request"
    for missing in (None, ""):
        with pytest.raises(AuthError) as info:
            bearer_token(missing)
        assert info.value.error is None
        assert info.value.www_authenticate == "Bearer"


async def test_missing_header_is_a_challenge_without_error_code() -> None:
    err = await rejects(secret_auth(), None, "missing bearer token")
    assert err.error is None
    err = await rejects(secret_auth(), "Basic dXNlcjpwYXNz", "Bearer <token>")
    assert err.error == "invalid_request"


# --- SecretAuthenticator --------------------------------------------------------------------


async def test_valid_token_gives_principal() -> None:
    auth = secret_auth()
    p = await auth.authenticate("Bearer " + hs(claims()))
    assert p == Principal("alice", ("analyst",), "cbam")
    p = await auth.authenticate("bearer " + hs(claims(sub="bob", roles=..., team=...)))
    assert p == Principal("bob", (), None)
    p = await auth.authenticate("Bearer " + hs(claims(roles=[], team=None)))
    assert p == Principal("alice", (), None)


async def test_expiry_honours_leeway() -> None:
    auth = secret_auth(leeway_s=30)
    p = await auth.authenticate("Bearer " + hs(claims(exp=NOW - 29)))
    assert p.id == "alice"
    await rejects(auth, "Bearer " + hs(claims(exp=NOW - 30)), "expired")
    await rejects(auth, "Bearer " + hs(claims(exp=NOW - 3600)), "expired")
    strict = secret_auth(leeway_s=0)
    await rejects(strict, "Bearer " + hs(claims(exp=NOW)), "expired")
    assert (await strict.authenticate("Bearer " + hs(claims(exp=NOW + 1)))).id == "alice"


async def test_not_yet_valid_tokens() -> None:
    auth = secret_auth(leeway_s=30)
    await rejects(auth, "Bearer " + hs(claims(nbf=NOW + 31)), "not yet valid")
    await rejects(auth, "Bearer " + hs(claims(iat=NOW + 3000)), "not yet valid")
    assert (await auth.authenticate("Bearer " + hs(claims(nbf=NOW + 30, iat=NOW)))).id == "alice"


async def test_time_claims_must_be_numbers() -> None:
    auth = secret_auth()
    for bad in ("9999999999", True, None, float("nan"), float("inf"), [1]):
        await rejects(auth, "Bearer " + hs(claims(exp=bad)), "exp")
    await rejects(auth, "Bearer " + hs(claims(exp=...)), "exp")
    await rejects(auth, "Bearer " + hs(claims(nbf="0")), "nbf")
    await rejects(auth, "Bearer " + hs(claims(iat=False)), "iat")
    assert (await auth.authenticate("Bearer " + hs(claims(exp=NOW + 10.5)))).id == "alice"


async def test_wrong_secret_and_tampering() -> None:
    auth = secret_auth()
    await rejects(auth, "Bearer " + hs(claims(), secret=b"x" * 32), "signature")
    head, body, sig = hs(claims()).split(".")
    forged = b64(json.dumps(claims(sub="root", roles=["admin"])).encode())
    await rejects(auth, f"Bearer {head}.{forged}.{sig}", "signature")
    await rejects(auth, f"Bearer {head}.{body}.{b64(b'0' * 32)}", "signature")
    for junk in ("abc", "a.b", "a.b.c", "!!!.???.###", f"{head}.{body}"):
        await rejects(auth, f"Bearer {junk}", "malformed")


async def test_alg_none_is_refused() -> None:
    auth = secret_auth()
    for alg in ("none", "None", "NONE", ""):
        await rejects(auth, "Bearer " + unsigned({"alg": alg, "typ": "JWT"}, claims()), "algorithm")
    await rejects(auth, "Bearer " + unsigned({"typ": "JWT"}, claims()), "algorithm")
    none_token = jwt.encode(claims(), None, algorithm="none")  # type: ignore[arg-type]
    await rejects(auth, "Bearer " + none_token, "algorithm")


async def test_other_algorithms_are_refused_even_with_the_right_secret() -> None:
    auth = CountingSecret(SECRET * 2, clock=Clock())
    for alg in ("HS384", "HS512"):
        token = jwt.encode(claims(), SECRET * 2, algorithm=alg)
        await rejects(auth, "Bearer " + token, "algorithm")
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    await rejects(auth, "Bearer " + jwt.encode(claims(), rsa_key, algorithm="RS256"), "algorithm")


async def test_subject_roles_team_shapes() -> None:
    auth = secret_auth()
    for sub in (..., "", 42, None, ["alice"]):
        await rejects(auth, "Bearer " + hs(claims(sub=sub)), "sub")
    for roles in ("admin", ["admin", 1], {"admin": True}, [None]):
        await rejects(auth, "Bearer " + hs(claims(roles=roles)), "roles")
    for team in (7, "", ["a"]):
        await rejects(auth, "Bearer " + hs(claims(team=team)), "team")


async def test_audience_and_issuer() -> None:
    auth = secret_auth(audience="greenlang-sidecar", issuer="https://idp.example")
    good = claims(aud="greenlang-sidecar", iss="https://idp.example")
    assert (await auth.authenticate("Bearer " + hs(good))).id == "alice"
    assert await auth.authenticate("Bearer " + hs({**good, "aud": ["x", "greenlang-sidecar"]}))
    await rejects(auth, "Bearer " + hs({**good, "aud": "other"}), "audience")
    await rejects(auth, "Bearer " + hs({k: v for k, v in good.items() if k != "aud"}), "aud")
    await rejects(auth, "Bearer " + hs({**good, "iss": "https://evil.example"}), "issuer")
    await rejects(auth, "Bearer " + hs({k: v for k, v in good.items() if k != "iss"}), "iss")
    # Without a configured audience, a token restricted to some audience is not for us.
    await rejects(secret_auth(), "Bearer " + hs(claims(aud="someone-else")), "audience")


async def test_cache_answers_repeats_until_exp_or_ttl() -> None:
    clock = Clock()
    auth = secret_auth(clock, cache_ttl_s=60, leeway_s=30)
    header = "Bearer " + hs(claims(exp=NOW + 20))
    first = await auth.authenticate(header)
    assert await auth.authenticate(header) is first
    assert auth.verified == 1
    clock.now = NOW + 19.9
    await auth.authenticate(header)
    assert auth.verified == 1
    clock.now = NOW + 20  # the token's exp: the entry is gone, the leeway still admits it
    await auth.authenticate(header)
    assert auth.verified == 2
    clock.now = NOW + 50  # beyond exp + leeway: the cache must not extend the token's life
    await rejects(auth, header, "expired")
    assert auth._cache.get(header) is None

    long_lived = "Bearer " + hs(claims(exp=NOW + 10_000))
    clock.now = NOW
    await auth.authenticate(long_lived)
    clock.now = NOW + 59
    await auth.authenticate(long_lived)
    assert auth.verified == 4
    clock.now = NOW + 60  # the TTL ran out
    await auth.authenticate(long_lived)
    assert auth.verified == 5


async def test_failures_are_never_cached() -> None:
    auth = secret_auth()
    bad = "Bearer " + hs(claims(), secret=b"y" * 32)
    for _ in range(3):
        await rejects(auth, bad, "signature")
    assert auth.verified == 3
    assert len(auth._cache) == 0
    good = "Bearer " + hs(claims())
    await auth.authenticate(good)
    # The same token under a different header spelling is verified on its own merits.
    await auth.authenticate("bearer" + good[6:])
    assert auth.verified == 5


async def test_cache_is_bounded() -> None:
    clock = Clock()
    auth = secret_auth(clock, cache_size=3)
    headers = ["Bearer " + hs(claims(sub=f"user-{i}")) for i in range(10)]
    for h in headers:
        await auth.authenticate(h)
        assert len(auth._cache) <= 3
    assert [h for h in headers if auth._cache.get(h)] == headers[-3:]
    none = secret_auth(clock, cache_size=0)
    await none.authenticate(headers[0])
    await none.authenticate(headers[0])
    assert none.verified == 2


def test_secret_length_and_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        SecretAuthenticator(b"short")
    f = tmp_path / "secret"
    f.write_bytes(SECRET + b"\n")
    assert SecretAuthenticator.from_file(f)._secret == SECRET
    f.write_bytes(SECRET + b"\r\n")
    assert SecretAuthenticator.from_file(f)._secret == SECRET
    f.write_bytes(SECRET)
    assert SecretAuthenticator.from_file(str(f))._secret == SECRET
    f.write_bytes(b"\n")
    with pytest.raises(ValueError, match="empty"):
        SecretAuthenticator.from_file(f)
    f.write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        SecretAuthenticator.from_file(f)
    f.write_bytes(b"x" * 31 + b"\n")
    with pytest.raises(ValueError, match="at least 32"):
        SecretAuthenticator.from_file(f)
    with pytest.raises(FileNotFoundError):
        SecretAuthenticator.from_file(tmp_path / "missing")


async def test_secret_from_file_verifies_tokens(tmp_path: Path) -> None:
    f = tmp_path / "secret"
    f.write_bytes(SECRET + b"\n")
    auth = SecretAuthenticator.from_file(f, leeway_s=0)
    await auth.start()
    token = jwt.encode({"sub": "carol", "exp": time.time() + 60}, SECRET, algorithm="HS256")
    assert (await auth.authenticate(f"Bearer {token}")).id == "carol"
    await auth.close()


# --- JwksAuthenticator against a real JWKS server ------------------------------------------


@dataclass
class Keys:
    rsa1: rsa.RSAPrivateKey
    rsa2: rsa.RSAPrivateKey
    ec1: ec.EllipticCurvePrivateKey
    weak: rsa.RSAPrivateKey


@pytest.fixture(scope="module")
def keys() -> Keys:
    def make_rsa(bits: int = 2048) -> rsa.RSAPrivateKey:
        return rsa.generate_private_key(public_exponent=65537, key_size=bits)

    return Keys(make_rsa(), make_rsa(), ec.generate_private_key(ec.SECP256R1()), make_rsa(1024))


def jwk(key: Any, kid: str | None, **extra: Any) -> dict[str, Any]:
    pub = key.public_key()
    algo = RSAAlgorithm if isinstance(pub, rsa.RSAPublicKey) else ECAlgorithm
    doc = algo.to_jwk(pub, as_dict=True)
    if kid is not None:
        doc["kid"] = kid
    doc.update(extra)
    return doc


@dataclass
class JwksServer:
    url: str
    doc: Any = None
    status: int = 200
    hits: int = 0
    delay: float = 0.0
    seen: list[str] = field(default_factory=list)


@pytest.fixture
async def jwks(keys: Keys) -> AsyncIterator[JwksServer]:
    port = free_port()
    state = JwksServer(url=f"http://127.0.0.1:{port}/jwks.json")
    state.doc = {"keys": [jwk(keys.rsa1, "rsa-1"), jwk(keys.ec1, "ec-1")]}

    async def serve(request: web.Request) -> web.Response:
        state.hits += 1
        if state.delay:
            await asyncio.sleep(state.delay)
        if state.status != 200:
            return web.Response(status=state.status, text="nope")
        if isinstance(state.doc, bytes):
            return web.Response(body=state.doc, content_type="application/json")
        return web.json_response(state.doc)

    app = web.Application()
    app.router.add_get("/jwks.json", serve)
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    yield state
    await server.close()


@pytest.fixture
async def make_jwks_auth(jwks: JwksServer) -> AsyncIterator[Any]:
    made: list[JwksAuthenticator] = []

    async def make(**kwargs: Any) -> JwksAuthenticator:
        kwargs.setdefault("refresh_s", 0)
        auth = JwksAuthenticator(jwks.url, **kwargs)
        made.append(auth)
        await auth.start()
        return auth

    yield make
    for auth in made:
        await auth.close()


def live_claims(**overrides: Any) -> dict[str, Any]:
    return claims(exp=time.time() + 600, **overrides)


def signed(key: Any, alg: str, kid: str | None, payload: dict[str, Any] | None = None) -> str:
    headers = {"kid": kid} if kid is not None else None
    return "Bearer " + jwt.encode(payload or live_claims(), key, algorithm=alg, headers=headers)


async def test_jwks_rs256_and_es256(keys: Keys, make_jwks_auth: Any, jwks: JwksServer) -> None:
    auth = await make_jwks_auth()
    assert auth.key_ids == {"rsa-1", "ec-1"}
    p = await auth.authenticate(signed(keys.rsa1, "RS256", "rsa-1"))
    assert p == Principal("alice", ("analyst",), "cbam")
    assert (await auth.authenticate(signed(keys.ec1, "ES256", "ec-1"))).team == "cbam"
    assert jwks.hits == 1


async def test_jwks_refuses_wrong_key_and_algorithm_confusion(
    keys: Keys, make_jwks_auth: Any
) -> None:
    auth = await make_jwks_auth()
    # Signed by a key that is not in the set, under a kid that is.
    await rejects(auth, signed(keys.rsa2, "RS256", "rsa-1"), "signature")
    # The header claims ES256 with the RSA key's kid (and vice versa).
    await rejects(auth, signed(keys.ec1, "ES256", "rsa-1"), "algorithm")
    await rejects(auth, signed(keys.rsa1, "RS256", "ec-1"), "algorithm")
    # Classic confusion: HS256 "signed" with the public key as the HMAC secret.
    pem = keys.rsa1.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    confused = hmac_token({"alg": "HS256", "kid": "rsa-1", "typ": "JWT"}, live_claims(), pem)
    await rejects(auth, "Bearer " + confused, "algorithm")
    for alg in ("none", "RS384", "PS256", "ES384"):
        token = unsigned({"alg": alg, "kid": "rsa-1"}, live_claims(), b"sig")
        await rejects(auth, "Bearer " + token, "algorithm")


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
async def test_jwks_symmetric_and_weak_keys_are_ignored(
    keys: Keys, jwks: JwksServer, make_jwks_auth: Any
) -> None:
    secret = b"k" * 32
    jwks.doc["keys"].append({"kty": "oct", "kid": "sym", "k": b64(secret), "alg": "HS256"})
    jwks.doc["keys"].append(jwk(keys.weak, "weak"))
    jwks.doc["keys"].append(jwk(keys.rsa2, "enc", use="enc"))
    auth = await make_jwks_auth(min_refetch_s=3600)
    assert "sym" not in auth.key_ids
    assert "enc" not in auth.key_ids
    token = hmac_token({"alg": "HS256", "kid": "sym"}, live_claims(), secret)
    await rejects(auth, "Bearer " + token, "algorithm")
    await rejects(auth, signed(keys.rsa2, "RS256", "enc"), "unknown")
    # A 1024-bit RSA key is below PyJWT's minimum: tokens it signed are refused.
    await rejects(auth, signed(keys.weak, "RS256", "weak"), "signing key is not acceptable")


async def test_token_without_kid(keys: Keys, jwks: JwksServer, make_jwks_auth: Any) -> None:
    auth = await make_jwks_auth()
    await rejects(auth, signed(keys.rsa1, "RS256", None), "no 'kid'")
    jwks.doc = {"keys": [jwk(keys.ec1, None)]}
    single = await make_jwks_auth()
    assert (await single.authenticate(signed(keys.ec1, "ES256", None))).id == "alice"


async def test_jwks_start_fails_loudly(keys: Keys, jwks: JwksServer) -> None:
    async def start_fails(doc: Any = None, status: int = 200, url: str | None = None) -> None:
        jwks.doc, jwks.status = doc, status
        auth = JwksAuthenticator(url or jwks.url, refresh_s=0)
        try:
            with pytest.raises((ValueError, aiohttp.ClientError)):
                await auth.start()
        finally:
            await auth.close()

    await start_fails(status=500)
    await start_fails(status=404)
    await start_fails(b"not json")
    await start_fails({"keys": "nope"})
    await start_fails({"keys": []})
    await start_fails({"keys": [{"kty": "oct", "k": b64(b"k" * 32)}]})
    await start_fails(b"[" * 100 + b"]" * 100)
    await start_fails(b"[" * 100_000)
    await start_fails({"keys": [jwk(keys.rsa1, "a")]}, url=f"http://127.0.0.1:{free_port()}/")


async def test_unknown_kid_refetches_at_most_once_per_interval(
    keys: Keys, jwks: JwksServer, make_jwks_auth: Any
) -> None:
    auth = await make_jwks_auth(min_refetch_s=0.3)
    old = signed(keys.rsa1, "RS256", "rsa-1")
    await auth.authenticate(old)
    assert jwks.hits == 1

    # Rotation: the IdP drops rsa-1 and publishes rsa-2.
    jwks.doc = {"keys": [jwk(keys.rsa2, "rsa-2"), jwk(keys.ec1, "ec-1")]}
    assert (await auth.authenticate(signed(keys.rsa2, "RS256", "rsa-2"))).id == "alice"
    assert jwks.hits == 2
    assert auth.key_ids == {"rsa-2", "ec-1"}
    # The rotation cleared the cache: the cached rsa-1 token no longer passes.
    await rejects(auth, old, "unknown")
    # A burst of forged kids inside the interval: no further fetches.
    for i in range(20):
        await rejects(auth, signed(keys.rsa2, "RS256", f"forged-{i}"), "unknown")
    assert jwks.hits == 2

    await asyncio.sleep(0.35)
    jwks.doc["keys"].append(jwk(keys.rsa1, "rsa-3"))
    assert (await auth.authenticate(signed(keys.rsa1, "RS256", "rsa-3"))).id == "alice"
    assert jwks.hits == 3


async def test_concurrent_unknown_kids_share_one_fetch(
    keys: Keys, jwks: JwksServer, make_jwks_auth: Any
) -> None:
    auth = await make_jwks_auth(min_refetch_s=60)
    jwks.doc = {"keys": [jwk(keys.rsa2, "rsa-2")]}
    jwks.delay = 0.1
    headers = [signed(keys.rsa2, "RS256", "rsa-2", live_claims(sub=f"u{i}")) for i in range(10)]
    principals = await asyncio.gather(*(auth.authenticate(h) for h in headers))
    assert [p.id for p in principals] == [f"u{i}" for i in range(10)]
    assert jwks.hits == 2


async def test_refetch_failure_is_an_auth_error(
    keys: Keys, jwks: JwksServer, make_jwks_auth: Any
) -> None:
    auth = await make_jwks_auth()
    jwks.status = 503
    await rejects(auth, signed(keys.rsa2, "RS256", "rsa-2"), "unavailable")
    # Known keys keep working while the IdP is down.
    assert (await auth.authenticate(signed(keys.rsa1, "RS256", "rsa-1"))).id == "alice"


async def test_periodic_refresh_and_failed_refresh_keeps_keys(
    keys: Keys, jwks: JwksServer, make_jwks_auth: Any
) -> None:
    auth = await make_jwks_auth(refresh_s=0.05, min_refetch_s=3600)
    jwks.doc = {"keys": [jwk(keys.rsa2, "rsa-2")]}
    for _ in range(100):
        if auth.key_ids == {"rsa-2"}:
            break
        await asyncio.sleep(0.02)
    assert auth.key_ids == {"rsa-2"}
    assert (await auth.authenticate(signed(keys.rsa2, "RS256", "rsa-2"))).id == "alice"

    jwks.status = 500
    hits = jwks.hits
    for _ in range(100):
        if jwks.hits > hits + 1:
            break
        await asyncio.sleep(0.02)
    assert jwks.hits > hits + 1
    assert auth.key_ids == {"rsa-2"}
    header = signed(keys.rsa2, "RS256", "rsa-2", live_claims(sub="dave"))
    assert (await auth.authenticate(header)).id == "dave"
    with pytest.raises(aiohttp.ClientResponseError):
        await auth.refresh()


async def test_unchanged_refresh_keeps_the_cache(keys: Keys, make_jwks_auth: Any) -> None:
    auth = await make_jwks_auth()
    await auth.authenticate(signed(keys.rsa1, "RS256", "rsa-1"))
    assert len(auth._cache) == 1
    await auth.refresh()
    assert len(auth._cache) == 1


async def test_shared_session_is_left_open(keys: Keys, jwks: JwksServer) -> None:
    async with aiohttp.ClientSession() as session:
        auth = JwksAuthenticator(jwks.url, session=session, refresh_s=0)
        await auth.start()
        assert (await auth.authenticate(signed(keys.ec1, "ES256", "ec-1"))).id == "alice"
        await auth.close()
        assert not session.closed


async def test_jwks_claims_are_checked_like_secret_ones(keys: Keys, make_jwks_auth: Any) -> None:
    auth = await make_jwks_auth(audience="sidecar")
    await rejects(auth, signed(keys.rsa1, "RS256", "rsa-1"), "aud")
    ok = live_claims(aud="sidecar")
    assert (await auth.authenticate(signed(keys.rsa1, "RS256", "rsa-1", ok))).id == "alice"
    expired = {**ok, "exp": time.time() - 3600}
    await rejects(auth, signed(keys.rsa1, "RS256", "rsa-1", expired), "expired")
    await rejects(auth, signed(keys.rsa1, "RS256", "rsa-1", {**ok, "sub": ""}), "sub")


def test_parse_jwks_filters(keys: Keys) -> None:
    doc = {
        "keys": [
            jwk(keys.rsa1, "r"),
            jwk(keys.ec1, "e"),
            jwk(keys.rsa2, "r384", alg="RS384"),
            {"kty": "oct", "k": "c2VjcmV0"},
            {"kty": "RSA", "kid": "broken", "n": "AQAB"},
            "not a key",
        ]
    }
    assert sorted(k.key_id or "" for k in parse_jwks(doc)) == ["e", "r"]
    assert [k.algorithm_name for k in parse_jwks(json.dumps(doc))] == ["RS256", "ES256"]
    with pytest.raises(ValueError):
        parse_jwks({"keys": [doc["keys"][2]]})
