"""`greenlang-governance`: policies in the registry, policy tests, bundles, decisions, OPA status,
compliance reports.

Exit codes: 0 ok (and allow/warn for `decide`), 1 server or network failure, 2 usage or bad
input, 3 a `decide` that denies, 4 a replay (`policy replay`, `--dry-run`) in which the draft
would deny calls that were not denied."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

from bundles.compiler import write_output
from bundles.layout import POLICY_TESTS_DIR, STOCK_POLICY_DIR
from bundles.report_cli import add_report_parser
from kernel.cli import CliError, read_file, run_cli
from kernel.registry_client import check, registry_client


def _print(body: Any) -> int:
    json.dump(body, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


def policy_list(args: argparse.Namespace) -> int:
    with registry_client() as client:
        rows = check(client.get("/policies"))
    for p in rows:
        state = "enabled" if p["enabled"] else "disabled"
        print(f"{p['policy_id']:<45} {p['type']:<15} {state:<9} rev {p['revision']}  {p['name']}")
    return 0


def policy_show(args: argparse.Namespace) -> int:
    with registry_client() as client:
        return _print(check(client.get(f"/policies/{args.policy_id}")))


REPLAY_NEWLY_DENIES = 4


def _replay(args: argparse.Namespace, source: str, *, enabled: bool = True) -> int:
    """Ask the registry to replay ``source`` (switched on, or off for a disable); print the
    report; 4 when it newly denies."""
    payload: dict[str, Any] = {"policy": source, "enabled": enabled}
    for key, value in (("from", args.since), ("to", args.until), ("agent_id", args.agent)):
        if value is not None:
            payload[key] = value
    with registry_client() as client:
        report = check(client.post("/policies/replay", json=payload))
    if args.format == "json":
        _print(report)
    else:
        from bundles.replay_text import as_text

        sys.stdout.write(as_text(report))
    return REPLAY_NEWLY_DENIES if report["newly_denied"] else 0


def _policy_text(path: str) -> str:
    try:
        return read_file(path, "policy").decode("utf-8")
    except UnicodeDecodeError:
        raise CliError(f"{path}: a policy must be UTF-8 text", 2) from None


def policy_replay(args: argparse.Namespace) -> int:
    return _replay(args, _policy_text(args.file))


def policy_create(args: argparse.Namespace) -> int:
    if args.dry_run:
        return _replay(args, _policy_text(args.file))
    body = read_file(args.file, "policy")
    with registry_client() as client:
        created = check(
            client.post("/policies", content=body, headers={"Content-Type": "application/yaml"})
        )
    print(f"created {created['policy_id']} (revision {created['revision']})")
    return 0


def _toggle(args: argparse.Namespace, action: str) -> int:
    if getattr(args, "dry_run", False):
        with registry_client() as client:
            stored = check(client.get(f"/policies/{args.policy_id}"))
        return _replay(args, stored["source"], enabled=action == "enable")
    payload = {"reason": args.reason} if args.reason else {}
    with registry_client() as client:
        p = check(client.post(f"/policies/{args.policy_id}/{action}", json=payload))
    print(f"{p['policy_id']} {action}d (revision {p['revision']})")
    return 0


def status(args: argparse.Namespace) -> int:
    with registry_client() as client:
        instances = check(client.get("/opa/instances"))
        head = client.head(f"/bundles/{args.bundle}")
    current = head.headers.get("ETag", "").strip('"') if head.is_success else None
    if not instances:
        print("no OPA instance has reported yet")
    for inst in instances:
        bundle = inst["bundles"].get(args.bundle, {})
        revision = bundle.get("active_revision", "-")
        verdict = "current" if current and revision == current else "STALE"
        errors = "; ".join(e.get("message", "") for e in bundle.get("errors") or []) or ""
        print(f"{inst['instance_id']:<40} {revision:<20} {verdict:<8} {inst['last_seen']} {errors}")
    return 0


def policy_test(args: argparse.Namespace) -> int:
    from bundles.errors import PolicyError
    from bundles.testing import run_opa_test

    if not Path(args.tests).is_dir():
        raise CliError(
            f"no policy tests at {args.tests} (the stock tests come with a source checkout; "
            "give yours with --tests DIR)",
            2,
        )
    with tempfile.TemporaryDirectory(prefix="gl-policy-test-") as out:
        try:
            result = run_opa_test(args.dir, Path(out) / "compiled", tests_dir=args.tests)
        except PolicyError as exc:
            raise CliError(str(exc), 2) from None
        except FileNotFoundError as exc:
            raise CliError(str(exc), 1) from None
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    return 0 if result.passed else 1


def _compile(policy_dir: str) -> Any:
    from bundles.compiler import compile_policies
    from bundles.errors import PolicyError

    try:
        return compile_policies([policy_dir])
    except PolicyError as exc:
        raise CliError(str(exc), 2) from None


def _registry_catalog() -> dict[str, Any] | None:
    """The agent catalog of the registry at $GREENLANG_REGISTRY_URL, when one is set."""
    if not os.environ.get("GREENLANG_REGISTRY_URL"):
        return None
    with registry_client() as client:
        catalog: dict[str, Any] = check(client.get("/catalog"))
        return catalog


def bundle_build(args: argparse.Namespace) -> int:
    from bundles.assemble import assemble
    from bundles.signing import SigningConfig

    signing = None
    if args.signing_key:
        signing = SigningConfig(
            key=Path(args.signing_key), algorithm=args.signing_alg, keyid=args.key_id
        )
    compiled = _compile(args.policies)
    try:
        built = assemble(compiled, catalog=_registry_catalog(), signing=signing)
    except ValueError as exc:
        raise CliError(f"cannot build the bundle: {exc}", 2) from None
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(built.content)
    signed = " (signed)" if built.signed else ""
    print(f"wrote {output}: revision {built.revision}, {len(built.files)} files{signed}")
    return 0


def bundle_publish(args: argparse.Namespace) -> int:
    from bundles.publish import PublishError, publish_registry, publish_s3

    bundle = Path(args.file)
    if not bundle.is_file():
        raise CliError(f"{bundle}: no such bundle file", 2)
    try:
        if args.to == "registry":
            url = os.environ.get("GREENLANG_REGISTRY_URL", "http://127.0.0.1:8700")
            done = publish_registry(bundle, url, os.environ.get("GREENLANG_TOKEN"), args.name)
        elif args.to.startswith("s3://"):
            endpoint = args.endpoint or os.environ.get("GREENLANG_S3_ENDPOINT")
            keys = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
            if not endpoint or not all(keys):
                raise CliError(
                    "s3 publishing needs --endpoint (or GREENLANG_S3_ENDPOINT) and "
                    "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
                    2,
                )
            done = publish_s3(
                bundle, args.to, endpoint=endpoint, access_key=str(keys[0]), secret_key=str(keys[1])
            )
        else:
            raise CliError("--to takes s3://bucket/key or registry", 2)
    except PublishError as exc:
        raise CliError(str(exc), 1) from None
    except ValueError as exc:
        raise CliError(str(exc), 2) from None
    print(f"published revision {done.revision} to {done.location}")
    return 0


def _registry_bundle(url: str, target: Path) -> str:
    """Download the registry's current bundle (its policies, agent catalog and role bindings)
    to `target`; returns its revision."""
    with registry_client(url) as client:
        try:
            response = client.get("/bundles/greenlang")
        except httpx.HTTPError as exc:
            raise CliError(f"cannot reach the registry at {url}: {exc}", 1) from None
    if not response.is_success:
        check(response)
    target.write_bytes(response.content)
    return response.headers.get("ETag", "").strip('"') or "unknown"


def _engine(args: argparse.Namespace) -> tuple[Any, str]:
    """The engine to decide with, and a line saying whose policies and catalog it holds."""
    from bundles.engines.embedded import EmbeddedEngine
    from bundles.engines.opa_http import OpaHttpEngine
    from bundles.layout import REGO_DIR, STOCK_DATA_DIR

    if args.engine != "embedded":
        if args.bundle or args.policies or args.registry:
            raise CliError(
                "with an OPA engine the policies are the ones OPA has loaded; "
                "drop --policies/--bundle/--registry",
                2,
            )
        return OpaHttpEngine(args.engine), f"the policies and catalog OPA at {args.engine} holds"
    key = read_file(args.verification_key, "verification key") if args.verification_key else None
    if args.bundle:
        return EmbeddedEngine.from_bundle(Path(args.bundle), verification_key=key), (
            f"bundle {args.bundle} (its policies and agent catalog)"
        )
    with tempfile.TemporaryDirectory(prefix="gl-decide-") as tmp:
        if args.registry:
            revision = _registry_bundle(args.registry, Path(tmp) / "bundle.tar.gz")
            engine = EmbeddedEngine.from_bundle(Path(tmp) / "bundle.tar.gz", verification_key=key)
            return engine, f"the registry's bundle at {args.registry}, revision {revision}"
        write_output(_compile(args.policies or str(STOCK_POLICY_DIR)), Path(tmp) / "out")
        engine = EmbeddedEngine.from_paths([REGO_DIR, Path(tmp) / "out", STOCK_DATA_DIR])
    which = args.policies or "the stock policies"
    return engine, (
        f"{which} with an empty agent catalog: every agent is unknown unless the input says"
        " otherwise; --registry URL decides with the registry's catalog"
    )


async def _decide(args: argparse.Namespace) -> int:
    from bundles.engines.wire import EngineError, InputError

    try:
        document = json.loads(read_file(args.input, "input"))
    except ValueError:
        raise CliError(f"{args.input} is not valid JSON", 2) from None
    if not isinstance(document, dict):
        raise CliError(f"{args.input} must hold a JSON object (the decision input)", 2)
    try:
        engine, source = _engine(args)
    except EngineError as exc:  # an unreadable, unsigned or tampered bundle
        raise CliError(str(exc), 2) from None
    try:
        decision = await engine.decide(document.get("input", document))
    except InputError as exc:
        raise CliError(f"bad decision input: {exc}", 2) from None
    except EngineError as exc:
        raise CliError(str(exc), 1) from None
    finally:
        await engine.close()
    print(f"decided with {source}", file=sys.stderr)
    _print(decision)
    return 3 if decision.get("decision") == "deny" else 0


def decide(args: argparse.Namespace) -> int:
    return asyncio.run(_decide(args))


def _replay_options(p: argparse.ArgumentParser, *, dry_run: bool = False) -> None:
    if dry_run:
        p.add_argument(
            "--dry-run",
            action="store_true",
            help="show the replay of the policy over recorded calls instead (exit 4: denies)",
        )
    p.add_argument("--from", dest="since", metavar="DATE", help="date or RFC 3339 (default -7d)")
    p.add_argument("--to", dest="until", metavar="DATE", help="date (whole day) or RFC 3339")
    p.add_argument("--agent", help="only this agent's calls")
    p.add_argument("--format", choices=("json", "text"), default="text")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="greenlang-governance", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    policy = sub.add_parser("policy", help="policies").add_subparsers(dest="sub", required=True)
    p = policy.add_parser("list", help="policies stored in the registry")
    p.set_defaults(run=policy_list)
    p = policy.add_parser("show", help="one policy with its history")
    p.add_argument("policy_id")
    p.set_defaults(run=policy_show)
    p = policy.add_parser("create", help="store a policy YAML in the registry")
    p.add_argument("file")
    _replay_options(p, dry_run=True)
    p.set_defaults(run=policy_create)
    for action in ("enable", "disable"):
        p = policy.add_parser(action, help=f"{action} a stored policy")
        p.add_argument("policy_id")
        p.add_argument("--reason")
        _replay_options(p, dry_run=True)
        p.set_defaults(run=lambda a, action=action: _toggle(a, action))
    p = policy.add_parser(
        "replay", help="what a draft policy would have decided on recorded calls (exit 4: denies)"
    )
    p.add_argument("file", help="the draft policy YAML")
    _replay_options(p)
    p.set_defaults(run=policy_replay)
    p = policy.add_parser("test", help="compile and run `opa test` over the policy tests")
    p.add_argument("dir", nargs="?", default=str(STOCK_POLICY_DIR), help="policy YAML directory")
    p.add_argument(
        "--tests", default=str(POLICY_TESTS_DIR), help="directory of *_test.rego (and fixtures)"
    )
    p.set_defaults(run=policy_test)

    p = sub.add_parser("decide", help="print the decision for an input (exit 3 on deny)")
    p.add_argument("--input", required=True, help='JSON file: the input, or {"input": ...}')
    source = p.add_mutually_exclusive_group()
    source.add_argument("--policies", help="policy YAML directory (default: the stock policies)")
    source.add_argument("--bundle", help="a bundle .tar.gz")
    source.add_argument(
        "--registry",
        metavar="URL",
        help="the registry's current bundle: policies, agent catalog, roles (GREENLANG_TOKEN)",
    )
    p.add_argument("--engine", default="embedded", help="embedded or an OPA URL")
    p.add_argument("--verification-key", help="public key (PEM) the --bundle must be signed with")
    p.set_defaults(run=decide)

    bundle = sub.add_parser("bundle", help="OPA bundles").add_subparsers(dest="sub", required=True)
    p = bundle.add_parser("build", help="compile policies and write an OPA bundle")
    p.add_argument("--policies", default=str(STOCK_POLICY_DIR))
    p.add_argument("--output", required=True)
    p.add_argument("--signing-key", help="PEM private key (RS256) or shared-secret file (HS256)")
    p.add_argument("--signing-alg", default="RS256")
    p.add_argument("--key-id", help="the key id OPA verifies with")
    p.set_defaults(run=bundle_build)
    p = bundle.add_parser("publish", help="upload a bundle to S3/MinIO or the registry")
    p.add_argument("file")
    p.add_argument("--to", required=True, help="s3://bucket/key or registry")
    p.add_argument("--name", default="ci", help="bundle name in the registry")
    p.add_argument("--endpoint", help="S3 endpoint, e.g. http://127.0.0.1:9000")
    p.set_defaults(run=bundle_publish)

    p = sub.add_parser("status", help="which revision each OPA instance runs")
    p.add_argument("--bundle", default="greenlang")
    p.set_defaults(run=status)
    add_report_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    raise SystemExit(run_cli(lambda: int(args.run(args))))


if __name__ == "__main__":
    main()
