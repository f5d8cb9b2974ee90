"""Put a whole GreenLang bundle together: the hand-written Rego, the compiled policies and their
metadata, the stock data, and (when given) the registry's agent catalog. The CLI's `bundle build`
and the registry's bundle endpoint both go through here, so they ship the same layout."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bundles.bundle import (
    BinaryFile,
    BuiltBundle,
    BundleSource,
    DataDocument,
    RegoDir,
    RegoModule,
    build_bundle_bytes,
    collect_files,
)
from bundles.compiler import CompiledPolicies
from bundles.layout import REGO_DIR, STOCK_DATA_DIR
from bundles.sidecar_data import parse_sidecar_data
from bundles.signing import SigningConfig
from bundles.sources import load_data
from bundles.wasm_build import WASM_FILE, compile_wasm, wasm_metadata

ROOTS = ("greenlang",)


def bundle_data(
    data_dirs: Sequence[Path] = (STOCK_DATA_DIR,), catalog: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """data.greenlang: the stock data, with the agent catalog replaced when one is given.
    Sidecar data the sidecar could not enforce is refused (SidecarDataError, a ValueError)."""
    data: dict[str, Any] = load_data(data_dirs).get("greenlang", {})
    parse_sidecar_data(data.get("sidecar"))
    if catalog is not None:
        data["catalog"] = {"agents": dict(catalog)}
    return data


def bundle_sources(
    compiled: CompiledPolicies,
    *,
    data: Mapping[str, Any],
    rego_dir: Path = REGO_DIR,
) -> list[BundleSource]:
    """The bundle's files: Rego, data, and `policy.wasm` compiled from them by OPA."""
    modules = [RegoModule(p, t) for p, t in compiled.files().items() if p.endswith(".rego")]
    sources: list[BundleSource] = [
        RegoDir(rego_dir),
        *modules,
        DataDocument("greenlang/policy_meta", compiled.metadata()),
        DataDocument("greenlang/policy_index", compiled.index()),
        DataDocument("greenlang", dict(data)),
    ]
    return [*sources, BinaryFile(WASM_FILE, compile_wasm(collect_files(sources)))]


def assemble(
    compiled: CompiledPolicies,
    *,
    catalog: Mapping[str, Any] | None = None,
    data_dirs: Sequence[Path] = (STOCK_DATA_DIR,),
    rego_dir: Path = REGO_DIR,
    signing: SigningConfig | None = None,
) -> BuiltBundle:
    data = bundle_data(data_dirs, catalog)
    sources = bundle_sources(compiled, data=data, rego_dir=rego_dir)
    return build_bundle_bytes(sources, roots=ROOTS, signing=signing, metadata=metadata(sources))


def metadata(sources: Sequence[BundleSource]) -> dict[str, Any]:
    """The manifest metadata of a bundle of `sources` (ties policy.wasm to its Rego)."""
    return wasm_metadata(collect_files(sources))
