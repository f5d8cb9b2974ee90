"""Bad input of every kind gets a 4xx problem+json, writes nothing, and never a 500."""

from __future__ import annotations

import random
from typing import Any

import aiohttp
import pytest
import yaml

from tests.api.conftest import MAX_ARTIFACT, Api, make_spec

GOOD = yaml.safe_dump(make_spec())

BOMB = """
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
"""

BAD_SPECS: dict[str, tuple[str, str]] = {
    "malformed": ("agent_id: [unclosed\nname: x", "spec"),
    "bomb": (BOMB, "spec"),
    "anchor-in-valid-spec": (GOOD.replace("metadata:", "metadata: &m"), "spec"),
    "not-a-mapping": ("- just\n- a list\n", "spec"),
    "empty": ("", "spec"),
    "deep": ("a: " + "[" * 50 + "]" * 50, "spec"),
    "python-tag": ("!!python/object/apply:os.system ['true']", "spec"),
    "unknown-field": (GOOD + "owner: someone\n", "owner"),
    "unknown-metadata-field": (
        yaml.safe_dump(make_spec(metadata={"teams": "x"})),
        "metadata.teams",
    ),
    "missing-field": (
        yaml.safe_dump({k: v for k, v in make_spec().items() if k != "name"}),
        "name",
    ),
    "bad-semver": (yaml.safe_dump(make_spec(version="1.0")), "version"),
    "float-version": (GOOD.replace("version: 1.0.0", "version: 1.0"), "version"),
    "bad-semver-leading-zero": (yaml.safe_dump(make_spec(version="01.0.0")), "version"),
    "bad-id-upper": (yaml.safe_dump(make_spec(agent_id="GL-CBAM")), "agent_id"),
    "bad-id-short": (yaml.safe_dump(make_spec(agent_id="a")), "agent_id"),
    "bad-id-long": (yaml.safe_dump(make_spec(agent_id="a" * 65)), "agent_id"),
    "bad-id-underscore": (yaml.safe_dump(make_spec(agent_id="gl_cbam")), "agent_id"),
    "bad-id-leading-dash": (yaml.safe_dump(make_spec(agent_id="-cbam")), "agent_id"),
    "reserved-id": (yaml.safe_dump(make_spec(agent_id="search")), "agent_id"),
    "tag-not-list": (yaml.safe_dump(make_spec(metadata={"tags": "cbam"})), "metadata.tags"),
    "tag-number": (yaml.safe_dump(make_spec(metadata={"tags": [1]})), "metadata.tags.0"),
    "duplicate-tags": (yaml.safe_dump(make_spec(metadata={"tags": ["a", "a"]})), "metadata.tags"),
    "oversize": (GOOD + "#" + "x" * 70_000 + "\n", "spec"),
    "binary": ("\x00\xff\xfe garbage", "spec"),
}


def form(spec: str, artifact: bytes | None = None, **extra: str) -> aiohttp.FormData:
    f = aiohttp.FormData()
    f.add_field("spec", spec.encode("utf-8", "surrogateescape"), filename="agent.yaml")
    if artifact is not None:
        f.add_field("artifact", artifact, filename="artifact.bin")
    for k, v in extra.items():
        f.add_field(k, v)
    return f


async def assert_refused(api: Api, response: Any, status: int | None = None) -> dict:
    assert 400 <= response.status < 500, await response.text()
    if status:
        assert response.status == status
    assert response.headers["Content-Type"].startswith("application/problem+json")
    body = await response.json()
    assert {"type", "title", "status", "detail", "instance", "request_id"} <= set(body)
    assert body["request_id"] == response.headers["X-Request-Id"]
    assert "Traceback" not in body["detail"]
    return body


@pytest.mark.parametrize("case", sorted(BAD_SPECS))
async def test_bad_spec_is_refused_with_field_and_writes_nothing(api: Api, case: str) -> None:
    text, field = BAD_SPECS[case]
    before = await api.counts()
    r = await api.call("POST", "/api/v1/agents", "publisher", data=form(text, b"artifact"))
    body = await assert_refused(api, r)
    if r.status == 422:
        assert field in {e["field"] for e in body["errors"]}, body
    assert await api.counts() == before
    assert not any((api.artifact_dir.parent / "spool").iterdir())


async def test_bad_spec_as_json_names_the_field(api: Api) -> None:
    before = await api.counts()
    r = await api.register(make_spec(version="v1"))
    body = await assert_refused(api, r, 422)
    assert body["errors"] == [{"field": "version", "message": body["errors"][0]["message"]}]
    r = await api.call("POST", "/api/v1/agents", json={"spec": "agent_id: x"})
    await assert_refused(api, r, 422)
    r = await api.call("POST", "/api/v1/agents", json={"spec": make_spec(), "extra": 1})
    await assert_refused(api, r, 422)
    r = await api.call("POST", "/api/v1/agents", json=[1, 2])
    await assert_refused(api, r, 422)
    r = await api.call(
        "POST", "/api/v1/agents", data=b"{oops", headers={"Content-Type": "application/json"}
    )
    await assert_refused(api, r, 400)
    assert await api.counts() == before


@pytest.mark.parametrize(
    "ctype",
    ["text/plain", "application/x-yaml", "application/xml", "application/x-www-form-urlencoded"],
)
async def test_wrong_content_type_is_415(api: Api, ctype: str) -> None:
    before = await api.counts()
    r = await api.call(
        "POST", "/api/v1/agents", data=GOOD.encode(), headers={"Content-Type": ctype}
    )
    await assert_refused(api, r, 415)
    assert await api.counts() == before


async def test_oversize_artifact_is_413_and_leaves_nothing(api: Api) -> None:
    before = await api.counts()
    r = await api.call("POST", "/api/v1/agents", data=form(GOOD, b"z" * (MAX_ARTIFACT + 1)))
    await assert_refused(api, r, 413)
    assert await api.counts() == before
    assert not any((api.artifact_dir.parent / "spool").iterdir())
    r = await api.call("POST", "/api/v1/agents", data=form(GOOD, b"z" * MAX_ARTIFACT))
    assert r.status == 201


async def test_oversize_json_body_is_413(api: Api) -> None:
    spec = make_spec(description="x" * (2 * 1024 * 1024))
    r = await api.register(spec)
    await assert_refused(api, r, 413)


async def test_multipart_without_spec_or_with_unknown_parts(api: Api) -> None:
    before = await api.counts()
    f = aiohttp.FormData()
    f.add_field("artifact", b"abc", filename="a")
    await assert_refused(api, await api.call("POST", "/api/v1/agents", data=f), 422)
    await assert_refused(
        api, await api.call("POST", "/api/v1/agents", data=form(GOOD, extra_part="x")), 422
    )
    f = form(GOOD, b"one")
    f.add_field("artifact", b"two", filename="b")
    await assert_refused(api, await api.call("POST", "/api/v1/agents", data=f), 422)
    r = await api.call(
        "POST",
        "/api/v1/agents",
        data=b"--x\r\ngarbage",
        headers={"Content-Type": "multipart/form-data; boundary=x"},
    )
    await assert_refused(api, r)
    assert await api.counts() == before


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/agents/BAD_ID",
        "/api/v1/agents/a",
        "/api/v1/agents/gl-x/versions/1.0.0/nope",
        "/api/v1/nowhere",
        "/api/v1/agents/%00",
        "/api/v1/certificates/..%2F..%2Fetc",
    ],
)
async def test_unknown_paths_are_problem_json_404(api: Api, path: str) -> None:
    r = await api.call("GET", path)
    await assert_refused(api, r, 404)


async def test_wrong_method_is_405_problem(api: Api) -> None:
    r = await api.call("PUT", "/api/v1/agents/gl-cbam-calculator")
    body = await assert_refused(api, r, 405)
    assert body["status"] == 405


def random_json(rng: random.Random, depth: int = 0) -> Any:
    kinds = ["str", "int", "float", "bool", "null"] + (["list", "dict"] if depth < 4 else [])
    kind = rng.choice(kinds)
    if kind == "str":
        return "".join(
            rng.choice("aZ9-_. \u00e9\U0001f600\x00'\"") for _ in range(rng.randint(0, 12))
        )
    if kind == "int":
        return rng.choice([0, -1, 1, 2**63, -(2**70), rng.randint(-1000, 1000)])
    if kind == "float":
        return rng.choice([0.5, -1e308, 1e-300, 3.14])
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "null":
        return None
    if kind == "list":
        return [random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    keys = [
        "agent_id",
        "name",
        "version",
        "description",
        "type",
        "metadata",
        "team",
        "tags",
        "regulatory_scope",
        "changelog",
        "x",
    ]
    return {rng.choice(keys): random_json(rng, depth + 1) for _ in range(rng.randint(0, 6))}


async def test_random_json_never_500s_or_writes(api: Api) -> None:
    rng = random.Random(1234)
    before = await api.counts()
    for _ in range(300):
        spec = make_spec()
        # Either mutate one field of a valid spec, or send something random altogether.
        if rng.random() < 0.7:
            target = spec if rng.random() < 0.6 else spec["metadata"]
            target[rng.choice(list(target))] = random_json(rng)
        else:
            spec = random_json(rng)
        r = await api.call("POST", "/api/v1/agents", "publisher", json={"spec": spec})
        assert r.status < 500, (spec, await r.text())
        if r.status == 201:  # a mutation that happens to stay valid: allowed, then undone below
            body = await r.json()
            await api.pool.execute("DELETE FROM search_outbox")
            assert body["agent_id"]
            before = await api.counts()
        else:
            assert r.headers["Content-Type"].startswith("application/problem+json")
            assert await api.counts() == before
