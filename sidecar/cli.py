"""greenlang-sidecar: run the governance sidecar in front of one agent.

Flags win over the environment (GREENLANG_TOKEN, GREENLANG_REGISTRY_URL). Bad flags print one
line and exit 2 before anything starts.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import socket
import sys
from pathlib import Path

import structlog
from yarl import URL

from bundles.model import PolicyType
from kernel.cli import CliError, read_file, run_cli
from kernel.logs import configure_logging
from sidecar.app import Listen, Sidecar, spool_sink
from sidecar.audit_sink import AuditSink, LogAuditSink
from sidecar.auth import (
    DEFAULT_LEEWAY_S,
    Authenticator,
    JwksAuthenticator,
    SecretAuthenticator,
)
from sidecar.call import Target
from sidecar.event_loop import LOOPS, loop_factory, loop_name
from sidecar.policy_source import (
    FileBundleSource,
    OpaSource,
    PolicySource,
    PolledBundleSource,
)

log = structlog.get_logger("sidecar")

AGENT_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,63}$")
POLICY_TYPES = tuple(t.value for t in PolicyType)
BUNDLE_NAME = "greenlang"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="greenlang-sidecar",
        description="Governance sidecar: a transparent proxy that asks policy before and after "
        "every call to one agent, and audits it.",
    )
    p.add_argument("--agent-id", required=True)
    p.add_argument("--agent-version")
    p.add_argument("--upstream", required=True, help="the agent, e.g. http://127.0.0.1:9000")
    p.add_argument("--listen", default="127.0.0.1:8080", help="host:port for callers")
    p.add_argument("--admin-listen", default="127.0.0.1:9901", help="/metrics /healthz /readyz")
    p.add_argument("--engine", default="embedded", help="embedded | http://opa-host:8181")
    p.add_argument("--bundle", help="bundle file or URL (embedded engine)")
    p.add_argument("--registry", default=os.environ.get("GREENLANG_REGISTRY_URL"))
    p.add_argument("--environment", default="production")
    auth = p.add_mutually_exclusive_group()
    auth.add_argument("--jwt-secret-file", help="HS256 shared secret for caller JWTs")
    auth.add_argument("--jwks-url", help="JWKS for RS256/ES256 caller JWTs")
    p.add_argument(
        "--jwt-leeway-s",
        type=float,
        default=DEFAULT_LEEWAY_S,
        help=f"clock skew allowed on a JWT's exp/nbf/iat, seconds (default {DEFAULT_LEEWAY_S:g})",
    )
    p.add_argument("--fail-open", action="store_true", help="forward when no decision can be had")
    p.add_argument("--poll-interval", type=float, default=5.0, help="bundle polling, seconds")
    p.add_argument("--verification-key", help="public key (PEM) or secret that signs bundles")
    p.add_argument("--verification-alg", default="RS256")
    p.add_argument(
        "--allow-unsigned-bundles",
        action="store_true",
        help="with --environment production, load bundles without --verification-key",
    )
    p.add_argument("--spool-dir", help="audit spool (default ~/.greenlang/sidecar/<agent>-<port>)")
    p.add_argument("--spool-max-mb", type=int, default=256)
    p.add_argument("--policy-types", default="access_control,rate_limiting,compliance,data_access")
    p.add_argument("--rate-window", type=int, default=60, help="rate window, seconds")
    p.add_argument(
        "--token-window",
        type=int,
        default=60,
        help="token budget window (tokens per caller per this many seconds)",
    )
    p.add_argument(
        "--rate-store",
        help="count callers' rates and tokens in this Redis (redis://host:port/db), shared by "
        "replicas",
    )
    p.add_argument(
        "--rate-store-fail-open",
        action="store_true",
        help="while the rate store is away count in process instead of refusing calls (503)",
    )
    p.add_argument("--connect-timeout", type=float, default=5.0)
    p.add_argument(
        "--decision-cache-ttl",
        type=float,
        default=1.0,
        help="reuse the non-rate part of a decision for this many seconds (0: off)",
    )
    p.add_argument(
        "--route-poll-s",
        type=float,
        default=2.0,
        help="poll the registry's route for canary routing every this many seconds (0: off)",
    )
    p.add_argument(
        "--event-loop",
        choices=LOOPS,
        default="auto",
        help="auto: uvloop when installed, else asyncio",
    )
    p.add_argument("--sidecar-id", help="instance id in audit events (default host:port)")
    p.add_argument("--log-level", default="info")
    p.add_argument(
        "--log-sample-rate",
        type=float,
        default=0.0,
        help="fraction of calls (0..1) logged with their request/response bodies, masked",
    )
    p.add_argument("--log-sample-bytes", type=int, default=4096, help="cap per logged body")
    p.add_argument(
        "--no-decision-inputs",
        dest="decision_inputs",
        action="store_false",
        help="audit events do not keep the (masked) decision input used by policy replay",
    )
    return p


def _listen(value: str, flag: str) -> Listen:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise CliError(f"{flag} must be host:port, got {value!r}", 2)
    return Listen(host.strip("[]"), int(port))


def _http_url(value: str, flag: str) -> str:
    url = URL(value)
    if url.scheme not in ("http", "https") or not url.host:
        raise CliError(f"{flag} must be an http(s) URL, got {value!r}", 2)
    return value.rstrip("/")


def _validate(args: argparse.Namespace) -> None:
    if not AGENT_ID.match(args.agent_id):
        raise CliError(f"--agent-id {args.agent_id!r} must match {AGENT_ID.pattern}", 2)
    if args.fail_open and args.environment == "production":
        raise CliError("--fail-open is refused with --environment production", 2)
    if not (args.jwt_secret_file or args.jwks_url):
        raise CliError("callers must be authenticated: give --jwt-secret-file or --jwks-url", 2)
    _validate_signing(args)
    if not 0 <= args.jwt_leeway_s <= 300:
        raise CliError("--jwt-leeway-s must be between 0 and 300 seconds", 2)
    if not 0 < args.poll_interval <= 3600:
        raise CliError("--poll-interval must be between 0 and 3600 seconds", 2)
    if not 0 <= args.decision_cache_ttl <= 60:
        raise CliError("--decision-cache-ttl must be between 0 and 60 seconds", 2)
    if not 0 <= args.route_poll_s <= 3600:
        raise CliError("--route-poll-s must be between 0 and 3600 seconds", 2)
    if not 0 <= args.log_sample_rate <= 1:
        raise CliError("--log-sample-rate must be between 0 and 1", 2)
    if not 0 < args.log_sample_bytes <= 1024 * 1024:
        raise CliError("--log-sample-bytes must be between 1 and 1048576", 2)
    if not 0 < args.rate_window <= 86400:
        raise CliError("--rate-window must be between 1 and 86400 seconds", 2)
    if not 0 < args.token_window <= 86400:
        raise CliError("--token-window must be between 1 and 86400 seconds", 2)
    _validate_rate_store(args)
    unknown = set(_policy_types(args)) - set(POLICY_TYPES)
    if unknown:
        raise CliError(f"--policy-types: unknown type {sorted(unknown)[0]!r}", 2)


def _validate_signing(args: argparse.Namespace) -> None:
    """Production loads only signed bundles: a sidecar that loads them itself (the embedded
    engine) needs the key, unless told otherwise; an OPA engine verifies with its own keys."""
    if args.engine != "embedded":
        if args.verification_key:
            raise CliError(
                "--verification-key is for the embedded engine; give OPA the key (docs/bundles.md)",
                2,
            )
        return
    if args.environment == "production" and not (
        args.verification_key or args.allow_unsigned_bundles
    ):
        raise CliError(
            "--environment production loads only signed bundles: give --verification-key "
            "(the registry's key: GET /bundle-verification-key) or --allow-unsigned-bundles",
            2,
        )


def _validate_rate_store(args: argparse.Namespace) -> None:
    if args.rate_store_fail_open and not args.rate_store:
        raise CliError("--rate-store-fail-open needs --rate-store", 2)
    if args.rate_store is None:
        return
    usage = f"--rate-store must be redis://host:port/db, got {args.rate_store!r}"
    try:
        url = URL(args.rate_store)
        url.port  # noqa: B018 (parsing the port is the check)
    except ValueError:
        raise CliError(usage, 2) from None
    if url.scheme not in ("redis", "rediss") or not url.host:
        raise CliError(usage, 2)
    db = url.path.strip("/")
    if db and not db.isdigit():
        raise CliError(f"--rate-store: the database must be a number, got {db!r}", 2)


def _policy_types(args: argparse.Namespace) -> tuple[str, ...]:
    return tuple(t.strip() for t in args.policy_types.split(",") if t.strip())


def _source(args: argparse.Namespace, token: str | None) -> PolicySource:
    key = read_file(args.verification_key, "verification key") if args.verification_key else None
    alg = args.verification_alg
    if args.engine != "embedded":
        if args.bundle:
            raise CliError("--bundle is for the embedded engine; OPA loads its own bundles", 2)
        return OpaSource(
            _http_url(args.engine, "--engine"), agent_id=args.agent_id, refresh_s=args.poll_interval
        )
    if args.bundle and re.match(r"^https?://", args.bundle):
        return PolledBundleSource(
            args.bundle,
            token=token,
            interval_s=args.poll_interval,
            verification_key=key,
            algorithm=alg,
        )
    if args.bundle:
        path = Path(args.bundle)
        if not path.is_file():
            raise CliError(f"--bundle {args.bundle}: no such file", 2)
        return FileBundleSource(path, verification_key=key, algorithm=alg)
    if args.registry:
        if not token:
            raise CliError("GREENLANG_TOKEN is required to read bundles from --registry", 2)
        url = f"{_http_url(args.registry, '--registry')}/api/v1/bundles/{BUNDLE_NAME}"
        return PolledBundleSource(
            url, token=token, interval_s=args.poll_interval, verification_key=key, algorithm=alg
        )
    raise CliError("the embedded engine needs --bundle FILE|URL or --registry URL", 2)


def _authenticator(args: argparse.Namespace) -> Authenticator:
    if args.jwks_url:
        return JwksAuthenticator(_http_url(args.jwks_url, "--jwks-url"), leeway_s=args.jwt_leeway_s)
    try:
        return SecretAuthenticator.from_file(args.jwt_secret_file, leeway_s=args.jwt_leeway_s)
    except (OSError, ValueError) as exc:
        raise CliError(f"--jwt-secret-file: {exc}", 2) from None


def _spool_dir(args: argparse.Namespace, listen: Listen) -> Path:
    """The audit spool, which also keeps the last good route (route.json)."""
    return Path(
        args.spool_dir or Path.home() / ".greenlang" / "sidecar" / f"{args.agent_id}-{listen.port}"
    )


def _sink(args: argparse.Namespace, listen: Listen, token: str | None) -> AuditSink:
    if not args.registry:
        return LogAuditSink()
    directory = _spool_dir(args, listen)
    try:
        return spool_sink(
            directory,
            _http_url(args.registry, "--registry"),
            token,
            max_bytes=args.spool_max_mb * 1024 * 1024,
        )
    except OSError as exc:
        raise CliError(f"audit spool {directory}: {exc}", 2) from None


def build_sidecar(args: argparse.Namespace) -> Sidecar:
    _validate(args)
    token = os.environ.get("GREENLANG_TOKEN") or None
    listen = _listen(args.listen, "--listen")
    target = Target(
        agent_id=args.agent_id,
        version=args.agent_version,
        environment=args.environment,
        sidecar_id=args.sidecar_id or f"{socket.gethostname()}:{listen.port}",
        pre_policy_types=_policy_types(args),
        rate_window_s=args.rate_window,
        token_window_s=args.token_window,
    )
    try:
        return Sidecar(
            target=target,
            upstream=_http_url(args.upstream, "--upstream"),
            listen=listen,
            admin_listen=_listen(args.admin_listen, "--admin-listen"),
            source=_source(args, token),
            authenticator=_authenticator(args),
            sink=_sink(args, listen, token),
            fail_open=args.fail_open,
            connect_timeout_s=args.connect_timeout,
            decision_cache_ttl_s=args.decision_cache_ttl,
            registry_url=_http_url(args.registry, "--registry") if args.registry else None,
            route_poll_s=args.route_poll_s,
            registry_token=token,
            route_state_dir=_spool_dir(args, listen) if args.registry else None,
            log_sample_rate=args.log_sample_rate,
            log_sample_bytes=args.log_sample_bytes,
            keep_decision_inputs=args.decision_inputs,
            rate_store_url=args.rate_store,
            rate_store_fail_open=args.rate_store_fail_open,
        )
    except ValueError as exc:
        raise CliError(str(exc), 2) from None


async def serve(sidecar: Sidecar) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await sidecar.start()
    except OSError as exc:
        await sidecar.stop()
        raise CliError(f"cannot start: {exc}", 1) from None
    if isinstance(sidecar.source, FileBundleSource) and sidecar.source.engine is None:
        reason = await sidecar.source.not_ready_reason()
        await sidecar.stop()
        raise CliError(str(reason), 2)
    log.info(
        "sidecar_started",
        agent_id=sidecar.target.agent_id,
        listen=f"{sidecar.listen.host}:{sidecar.listen.port}",
        admin=f"{sidecar.admin_listen.host}:{sidecar.admin_listen.port}",
        upstream=sidecar.upstream,
        event_loop=loop_name(loop),
    )
    await stop.wait()
    log.info("sidecar_stopping")
    await sidecar.stop()


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level, component="sidecar")

    def run() -> int:
        factory = loop_factory(args.event_loop)
        sidecar = build_sidecar(args)
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(serve(sidecar))
        return 0

    sys.exit(run_cli(run))


if __name__ == "__main__":
    main()
