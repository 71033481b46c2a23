"""ZetaSQL's WebAssembly module, compiled once and cached on disk, and the local-service protocol it speaks."""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import fcntl
import gc
import hashlib
import os
import re
import threading
from pathlib import Path

ZETASQL_VERSION = "0.1.5"


class ZetaSQLUnavailable(RuntimeError):
    """The zetasql package is missing or is not the pinned version."""


def cache_dir() -> Path:
    """Where the compiled module (and the validator's result cache) live."""
    configured = os.environ.get("C360_ZETASQL_CACHE")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "customer360"


class Runtime:
    """One instantiated ZetaSQL WebAssembly module speaking the local-service protocol."""

    def __init__(self) -> None:
        try:
            import wasmtime
            import zetasql
            from zetasql.wasi import get_wasm_path
        except ImportError as exc:  # pragma: no cover - exercised only on broken installs
            raise ZetaSQLUnavailable(f"the zetasql package is not installed ({exc}); run `make install`") from exc
        if zetasql.__version__ != ZETASQL_VERSION:
            raise ZetaSQLUnavailable(
                f"zetasql {zetasql.__version__} is installed but customer360 is pinned to {ZETASQL_VERSION}"
            )
        self._wasmtime = wasmtime
        wasm_path = Path(get_wasm_path())
        config = wasmtime.Config()
        with contextlib.suppress(AttributeError):
            config.shared_memory = True
        self.engine = wasmtime.Engine(config)
        module = self._load_module(wasm_path, wasmtime)
        wasi = wasmtime.WasiConfig()
        wasi.inherit_stderr()
        tzdir = _tzinfo_dir()
        if tzdir:
            wasi.preopen_dir(tzdir, "/usr/share/zoneinfo")
        self.store = wasmtime.Store(self.engine)
        self.store.set_wasi(wasi)
        linker = wasmtime.Linker(self.engine)
        linker.define_wasi()
        instance = linker.instantiate(self.store, module)
        self.exports = instance.exports(self.store)
        with contextlib.suppress(KeyError):
            self.exports["_initialize"](self.store)
        self.memory = self.exports["memory"]
        self._malloc = self.exports["wasm_malloc"]
        self._free = self.exports["wasm_free"]
        self.lock = threading.RLock()

    def _load_module(self, wasm_path: Path, wasmtime):
        """Deserialize the compiled module from the cache, compiling it (once, under a file lock) when absent."""
        stat = wasm_path.stat()
        key = hashlib.sha256(
            f"{ZETASQL_VERSION}|{wasmtime.__version__ if hasattr(wasmtime, '__version__') else ''}"
            f"|{stat.st_size}|{int(stat.st_mtime)}|{os.uname().machine}".encode()
        ).hexdigest()[:16]
        directory = cache_dir()
        compiled = directory / f"zetasql-{ZETASQL_VERSION}-{key}.cwasm"
        if compiled.exists():
            with contextlib.suppress(Exception):
                return wasmtime.Module.deserialize_file(self.engine, str(compiled))
        try:
            directory.mkdir(parents=True, exist_ok=True)
            lock_file = open(directory / f"zetasql-{key}.lock", "w")
        except OSError:
            return wasmtime.Module.from_file(self.engine, str(wasm_path))
        with lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)  # another process may be compiling the same module
            if compiled.exists():
                with contextlib.suppress(Exception):
                    return wasmtime.Module.deserialize_file(self.engine, str(compiled))
            module = wasmtime.Module.from_file(self.engine, str(wasm_path))
            tmp = compiled.with_suffix(f".{os.getpid()}.tmp")
            with contextlib.suppress(OSError):
                tmp.write_bytes(module.serialize())
                os.replace(tmp, compiled)
            return module

    def close(self) -> None:
        """Free the wasmtime objects now, in dependency order."""
        for name in ("memory", "store", "engine"):
            resource = getattr(self, name, None)
            close = getattr(resource, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    close()
        self.exports = self._malloc = self._free = None

    def _base(self) -> int:
        # Shared memory may grow between calls, so the base address is read each time.
        return ctypes.addressof(self.memory.data_ptr().contents)

    def _write(self, ptr: int, data: bytes) -> None:
        ctypes.memmove(self._base() + ptr, data, len(data))

    def _read(self, ptr: int, size: int) -> bytes:
        return ctypes.string_at(self._base() + ptr, size)

    def call(self, method: str, request, response_type):
        """Call one local-service method with a protobuf request; raise ZetaError on a ZetaSQL error."""
        data = request.SerializeToString()
        with self.lock:
            store = self.store
            request_ptr = self._malloc(store, max(len(data), 1))
            size_ptr = self._malloc(store, 4)
            try:
                self._write(request_ptr, data)
                try:
                    response_ptr = self.exports[f"ZetaSqlLocalService_{method}"](store, request_ptr, len(data), size_ptr)
                except self._wasmtime.Trap as trap:
                    # A failed internal check aborts the module; the instance cannot be used again.
                    _discard_runtime(self)
                    raise ZetaError(f"ZetaSQL aborted while running {method}: {str(trap).splitlines()[0]}") from None
                if response_ptr == 0:
                    error_size = self.exports["wasm_get_last_error_size"](store)
                    error_ptr = self.exports["wasm_get_last_error"](store)
                    raw = self._read(error_ptr, error_size).decode("utf-8", "replace")
                    raise ZetaError.from_service(raw)
                size = int.from_bytes(self._read(size_ptr, 4), "little")
                payload = self._read(response_ptr, size)
                self._free(store, response_ptr)
            finally:
                if _RUNTIME is self:
                    self._free(store, request_ptr)
                    self._free(store, size_ptr)
        return response_type.FromString(payload)


def _tzinfo_dir() -> str | None:
    try:
        import tzdata
    except ImportError:
        return None
    path = Path(tzdata.__file__).parent / "zoneinfo"
    return str(path) if path.exists() else None


_RUNTIME: Runtime | None = None
_RUNTIME_LOCK = threading.Lock()


def _discard_runtime(broken: Runtime) -> None:
    global _RUNTIME
    if _RUNTIME is broken:
        _RUNTIME = None


@atexit.register
def _close_runtime() -> None:
    # Release the instance before interpreter teardown, so wasmtime's finalisers still find their bindings.
    global _RUNTIME
    runtime_, _RUNTIME = _RUNTIME, None
    if runtime_ is not None:
        runtime_.close()
    gc.collect()


def runtime() -> Runtime:
    """The process-wide ZetaSQL runtime (first call loads or compiles the WebAssembly module)."""
    global _RUNTIME
    with _RUNTIME_LOCK:
        if _RUNTIME is None:
            _RUNTIME = Runtime()
        return _RUNTIME


_LOCATION = re.compile(r"\[at (\d+):(\d+)\]")


class ZetaError(Exception):
    """A ZetaSQL analysis or evaluation error, with its 1-based line and column when known."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None, code: int | None = None):
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        self.code = code

    @classmethod
    def from_service(cls, raw: str) -> "ZetaError":
        code = None
        match = re.match(r"Code: (\d+), Message: (.*)", raw, re.S)
        message = raw
        if match:
            code = int(match.group(1))
            message = match.group(2)
        line = column = None
        loc = _LOCATION.search(message)
        if loc:
            line, column = int(loc.group(1)), int(loc.group(2))
            message = (message[: loc.start()] + message[loc.end() :]).strip()
        return cls(message.strip(), line, column, code)

    def __str__(self) -> str:
        where = f" [at {self.line}:{self.column}]" if self.line else ""
        return f"{self.message}{where}"


class _Protos:
    """The local service's protocol-buffer modules (imported lazily: they load with the package)."""

    def __init__(self) -> None:
        from zetasql.wasi._pb2.zetasql.local_service import local_service_pb2
        from zetasql.wasi._pb2.zetasql.proto import function_pb2, options_pb2, simple_catalog_pb2
        from zetasql.wasi._pb2.zetasql.public import (
            function_pb2 as public_function_pb2,
            options_pb2 as public_options_pb2,
            parse_resume_location_pb2,
            simple_table_pb2,
            type_pb2,
            value_pb2,
        )

        self.ls = local_service_pb2
        self.fn = function_pb2
        self.opt = options_pb2
        self.cat = simple_catalog_pb2
        self.pfn = public_function_pb2
        self.popt = public_options_pb2
        self.loc = parse_resume_location_pb2
        self.table = simple_table_pb2
        self.type = type_pb2
        self.value = value_pb2


_PROTOS: _Protos | None = None


def protos() -> _Protos:
    """The protocol-buffer modules, imported on first use."""
    global _PROTOS
    if _PROTOS is None:
        _PROTOS = _Protos()
    return _PROTOS




def empty_response():
    """The response type of the local-service methods that return nothing."""
    from google.protobuf import empty_pb2

    return empty_pb2.Empty
