"""A small on-disk cache for values that are slow to compute and depend only on text (translated SQL, generated statements)."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import tempfile
from pathlib import Path


def cache_dir() -> Path:
    """~/.cache/customer360 (XDG_CACHE_HOME honoured), or C360_CACHE_DIR."""
    configured = os.environ.get("C360_CACHE_DIR")
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "customer360"


class DiskCache:
    """A JSON file of key -> value, read once per process and written back (atomically) when it changed."""

    def __init__(self, name: str, *salt_files: Path) -> None:
        self.name = name
        digest = hashlib.sha256()
        for path in salt_files:
            digest.update(path.read_bytes())
        self._salt = digest.hexdigest()[:16]
        self._entries: dict | None = None
        self._dirty = False

    @property
    def path(self) -> Path:
        return cache_dir() / f"{self.name}.json"

    def _load(self) -> dict:
        if self._entries is None:
            try:
                loaded = json.loads(self.path.read_text(encoding="utf-8"))
                self._entries = loaded if isinstance(loaded, dict) else {}
            except (OSError, ValueError):
                self._entries = {}
        return self._entries

    def key(self, *parts: str) -> str:
        return hashlib.sha256("\0".join((self._salt, *parts)).encode()).hexdigest()

    def get(self, key: str):
        return self._load().get(key)

    def put(self, key: str, value) -> None:
        self._load()[key] = value
        self._dirty = True

    def save(self) -> None:
        if not self._dirty or self._entries is None:
            return
        # A read-only home only costs the next run the time to compute again.
        if write_atomically(self.path, json.dumps(self._entries)):
            self._dirty = False


def write_atomically(path: Path, text: str) -> bool:
    """Writes TEXT to PATH through a temporary file beside it (a reader sees the old file or the new one);
    False, with nothing left behind, when the disk refuses (read-only, full)."""
    temporary = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
        return True
    except OSError:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
        return False


_CACHES: list[DiskCache] = []


def memoised(cache: DiskCache, key_of):
    """Caches a function returning JSON-ready values in CACHE, keyed by key_of(*args) (strings)."""

    def decorate(function):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            key = cache.key(function.__qualname__, *key_of(*args, **kwargs))
            found = cache.get(key)
            if found is not None:
                return found
            value = function(*args, **kwargs)
            cache.put(key, value)
            return value

        return wrapper

    if cache not in _CACHES:
        _CACHES.append(cache)
    return decorate


def save_all() -> None:
    for cache in _CACHES:
        cache.save()
