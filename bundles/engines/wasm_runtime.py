"""OPA's Wasm ABI over wasmtime: one compiled module per policy.wasm, instances that evaluate.

One decision is one `opa_eval` call (ABI 1.2+): the input's JSON is written straight into the
instance's linear memory above the data, and `opa_eval` parses it, evaluates the entrypoint and
returns the result set as JSON; the heap is reset to just above the data on the next call.
wasmtime-py's public `Func.__call__` converts every argument through its type checker (6-8 µs
each); the call goes through `wasmtime_func_call_unchecked` instead, a private binding of the
pinned wasmtime version (pyproject), which tests/policy/test_wasm_engine.py exercises.

Compiling the module with Cranelift costs up to a second; the compiled artefact
(`Module.serialize`) is kept on disk under $GREENLANG_CACHE/wasm, keyed by the sha256 of the
module and the wasmtime version, and loads in milliseconds.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import tempfile
import threading
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import wasmtime
from wasmtime import _ffi as ffi  # private: the unchecked call (see the module docstring)

from bundles.engines.wasm_builtins import BUILTINS
from bundles.engines.wire import EngineError

PAGE = 65536
MIN_PAGES = 2
MAX_PAGES = 1024  # 64 MiB: the cap of one instance's linear memory
RECYCLE_BYTES = 16 << 20  # an instance whose memory grew beyond this is dropped after use
WASMTIME_VERSION = version("wasmtime")
_JSON = 0  # opa_eval's output format: JSON text

_compiled: dict[str, CompiledPolicy] = {}
_compiled_lock = threading.Lock()


class _Abort(Exception):
    """Raised in a host function to stop the evaluation (opa_abort, a failing builtin)."""


def _cache_dir() -> Path:
    base = Path(os.environ.get("GREENLANG_CACHE", Path.home() / ".cache" / "greenlang"))
    return base / "wasm"


class CompiledPolicy:
    """A compiled policy.wasm and what its exports say (entrypoint and builtin ids)."""

    def __init__(self, wasm: bytes) -> None:
        self.sha256 = hashlib.sha256(wasm).hexdigest()
        self.engine = wasmtime.Engine()
        self.module = self._load(wasm)
        names = {(i.module, i.name) for i in self.module.imports}
        if ("env", "memory") not in names:
            raise EngineError("policy.wasm does not import env.memory (not an OPA module?)")
        probe = Instance(self, b"{}")
        self.entrypoints: dict[str, int] = probe.json_of(
            probe.call("opa_json_dump", probe.call("entrypoints"))
        )
        builtins: dict[str, int] = probe.json_of(
            probe.call("opa_json_dump", probe.call("builtins"))
        )
        missing = sorted(set(builtins) - set(BUILTINS))
        if missing:
            raise EngineError(f"policy.wasm needs builtins this engine lacks: {missing}")
        self.builtins = {number: BUILTINS[name] for name, number in builtins.items()}
        abi = (
            probe.global_value("opa_wasm_abi_version"),
            probe.global_value("opa_wasm_abi_minor_version"),
        )
        if abi[0] != 1 or abi[1] < 2:
            raise EngineError(f"policy.wasm has Wasm ABI {abi[0]}.{abi[1]}; 1.2 or later needed")

    def _load(self, wasm: bytes) -> wasmtime.Module:
        """The module, from the on-disk cache when it was compiled before."""
        path = _cache_dir() / f"{self.sha256}-wasmtime{WASMTIME_VERSION}.cwasm"
        if path.is_file():
            try:
                return wasmtime.Module.deserialize_file(self.engine, str(path))
            except wasmtime.WasmtimeError:
                path.unlink(missing_ok=True)  # from another build: compile again
        try:
            module = wasmtime.Module(self.engine, wasm)
        except wasmtime.WasmtimeError as exc:
            raise EngineError(f"policy.wasm does not compile: {exc}") from None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".cwasm.", dir=path.parent)
            with os.fdopen(fd, "wb") as f:
                f.write(module.serialize())
            os.replace(tmp, path)
        except OSError:
            pass  # a read-only cache only costs the next start a compile
        return module


def compiled_policy(wasm: bytes) -> CompiledPolicy:
    """The CompiledPolicy for `wasm`, shared by every engine of the process."""
    key = hashlib.sha256(wasm).hexdigest()
    with _compiled_lock:
        found = _compiled.get(key)
        if found is None:
            found = _compiled[key] = CompiledPolicy(wasm)
        return found


class Instance:
    """One wasmtime store with one instance of the module and the data parsed into it.

    Not thread-safe: an engine hands each one to one thread at a time."""

    def __init__(self, policy: CompiledPolicy, data_json: bytes) -> None:
        self._policy = policy
        self.store = wasmtime.Store(policy.engine)
        wanted = [i.type for i in policy.module.imports if i.name == "memory"]
        least = wanted[0].limits.min if isinstance(wanted[0], wasmtime.MemoryType) else 0
        self.memory = wasmtime.Memory(
            self.store, wasmtime.MemoryType(wasmtime.Limits(max(MIN_PAGES, least), MAX_PAGES))
        )
        self._now = 0
        self.abort: str | None = None
        imports: list[Any] = []
        for imp in policy.module.imports:
            kind, name = imp.type, imp.name or ""
            if name == "memory":
                imports.append(self.memory)
            elif not isinstance(kind, wasmtime.FuncType):
                raise EngineError(f"policy.wasm imports {imp.module}.{name}")
            elif name == "opa_abort":
                imports.append(wasmtime.Func(self.store, kind, self._on_abort, True))
            elif name == "opa_println":
                imports.append(wasmtime.Func(self.store, kind, lambda caller, addr: None, True))
            elif name.startswith("opa_builtin"):
                imports.append(wasmtime.Func(self.store, kind, self._on_builtin, True))
            else:
                raise EngineError(f"policy.wasm imports {imp.module}.{imp.name}")
        try:
            self.instance = wasmtime.Instance(self.store, policy.module, imports)
        except (wasmtime.WasmtimeError, wasmtime.Trap) as exc:
            raise EngineError(f"policy.wasm cannot be instantiated: {exc}") from None
        self.exports = self.instance.exports(self.store)
        self._context = self.store._context()
        eval_func = self.exports["opa_eval"]
        assert isinstance(eval_func, wasmtime.Func)
        self._eval_func = ctypes.byref(eval_func._func)
        self._args = (ffi.wasmtime_val_raw_t * 7)()
        self.data_addr = self._parse(data_json)
        self.heap_base: int = self.call("opa_heap_ptr_get")

    # --- host functions -------------------------------------------------------------------

    def _on_abort(self, caller: wasmtime.Caller, addr: int) -> None:
        self.abort = self.read_cstr(addr, caller).decode("utf-8", "replace")
        raise _Abort(self.abort)

    def _on_builtin(self, caller: wasmtime.Caller, number: int, _ctx: int, *args: int) -> int:
        builtin = self._policy.builtins.get(number)
        if builtin is None:
            self.abort = f"unknown builtin {number}"
            raise _Abort(self.abort)
        values = [
            self.json_of(self.call("opa_json_dump", addr, store=caller), caller) for addr in args
        ]
        result = builtin(self._now, values)
        if result is None:
            return 0  # undefined, as a failing builtin is in OPA
        return self._parse(json.dumps(result).encode(), caller)

    # --- plumbing -------------------------------------------------------------------------

    def call(self, name: str, *args: int, store: Any = None) -> Any:
        func = self.exports[name]
        assert isinstance(func, wasmtime.Func)
        return func(store or self.store, *args)

    def global_value(self, name: str) -> Any:
        g = self.exports[name]
        assert isinstance(g, wasmtime.Global)
        return g.value(self.store)

    def read_cstr(self, addr: int, store: Any = None) -> bytes:
        base = ffi.wasmtime_memory_data(
            (store or self.store)._context(), ctypes.byref(self.memory._memory)
        )
        size = self.memory.data_len(store or self.store)
        if not 0 < addr < size:
            raise EngineError(f"policy.wasm returned address {addr} outside its memory")
        text = ctypes.string_at(ctypes.addressof(base.contents) + addr)
        if addr + len(text) >= size:
            raise EngineError("policy.wasm returned an unterminated string")
        return text

    def json_of(self, addr: int, store: Any = None) -> Any:
        return json.loads(self.read_cstr(addr, store))

    def _parse(self, text: bytes, store: Any = None) -> int:
        addr: int = self.call("opa_malloc", len(text), store=store)
        self.memory.write(store or self.store, text, addr)
        value: int = self.call("opa_json_parse", addr, len(text), store=store)
        if not value:
            raise EngineError("policy.wasm could not parse a JSON value")
        return value

    def memory_bytes(self) -> int:
        return int(self.memory.data_len(self.store))

    def evaluate(self, entrypoint: int, input_json: bytes) -> bytes:
        """The result set (JSON text) of `entrypoint` for the input; EngineError on a trap."""
        need = self.heap_base + len(input_json) + PAGE
        have = self.memory_bytes()
        if need > have:
            if need > MAX_PAGES * PAGE:
                raise EngineError(f"input of {len(input_json)} bytes exceeds the memory cap")
            self.memory.grow(self.store, (need - have + PAGE - 1) // PAGE)
        base = ffi.wasmtime_memory_data(self._context, ctypes.byref(self.memory._memory))
        ctypes.memmove(
            ctypes.addressof(base.contents) + self.heap_base, input_json, len(input_json)
        )
        self._now = time.time_ns()  # time.now_ns: one value per evaluation, as in OPA
        self.abort = None
        args = self._args
        args[0].i32 = 0
        args[1].i32 = entrypoint
        args[2].i32 = self.data_addr
        args[3].i32 = self.heap_base
        args[4].i32 = len(input_json)
        args[5].i32 = self.heap_base + len(input_json)
        args[6].i32 = _JSON
        trap = ctypes.POINTER(ffi.wasm_trap_t)()
        error = ffi.wasmtime_func_call_unchecked(
            self._context, self._eval_func, args, 7, ctypes.byref(trap)
        )
        if error or trap:
            _clear_python_exception()
            if error:
                message = wasmtime.WasmtimeError._from_ptr(error)
                raise EngineError(f"evaluation failed: {message}")
            trapped = wasmtime.Trap._from_ptr(trap)
            raise EngineError(f"evaluation aborted: {self.abort or trapped.message}")
        return self.read_cstr(args[0].i32 & 0xFFFFFFFF)


def _clear_python_exception() -> None:
    """A host function's exception is parked in wasmtime's module global; drop it."""
    from wasmtime import _func

    _func.LAST_EXCEPTION = None
