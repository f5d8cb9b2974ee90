"""Which policy engine deployed sidecars ask: ``GREENLANG_SIDECAR_ENGINE``.

An operator who runs OPA next to the agents (one per environment, say) points the sidecars of
those deployments at it; everything else keeps the embedded engine, which needs nothing per
call. The value is ``embedded`` (the default), one OPA URL for every deployment, or
comma-separated ``environment=URL`` pairs (``staging=http://opa-staging:8181``); an environment
that is not named runs embedded."""

from __future__ import annotations

ENGINE_ENV = "GREENLANG_SIDECAR_ENGINE"
EMBEDDED = "embedded"
ANY = "*"

Engines = tuple[tuple[str, str], ...]  # (environment or "*", "embedded" or an OPA URL)


def parse_engines(text: str) -> Engines:
    """The setting as (environment, engine) pairs; ValueError names what is wrong."""
    text = text.strip()
    if not text or text == EMBEDDED:
        return ()
    if "=" not in text:
        return ((ANY, _engine(text)),)
    pairs = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        environment, sep, engine = (s.strip() for s in item.partition("="))
        if not sep or not environment:
            raise ValueError(f"{ENGINE_ENV}: {item!r} is not environment=URL")
        pairs.append((environment, _engine(engine)))
    return tuple(pairs)


def engine_for(engines: Engines, environment: str) -> str:
    """The engine of a deployment to ``environment``."""
    for name, engine in engines:
        if name in (environment, ANY):
            return engine
    return EMBEDDED


def _engine(value: str) -> str:
    if value == EMBEDDED or value.startswith(("http://", "https://")):
        return value.rstrip("/")
    raise ValueError(f"{ENGINE_ENV}: {value!r} is neither 'embedded' nor an http(s) URL of OPA")
