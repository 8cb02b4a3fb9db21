"""A model's identity by content, not by name: two folders with the same files are the same model, and a
retrained or swapped model under the same path or alias is another one. Used wherever stored work depends on
the model (the Qdrant index fingerprint, the LLM response cache key)."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

FULL_HASH_LIMIT = 64 * 1024 * 1024
WINDOW = 4 * 1024 * 1024


def folder_identity(folder: Path, exclude: tuple[str, ...] = ()) -> str:
    """sha256 over every file's relative name and content. Files over 64 MiB (multi-GB weights) are hashed by size
    and three 4 MiB windows (start, middle, end): any retraining changes those bytes, and a 14 GB model still
    identifies in milliseconds. Cached per (path, sizes, mtimes), so repeated calls in one process are free.
    `exclude`: file names that describe where the folder came from rather than the model."""
    folder = folder.resolve()
    files = sorted(
        p for p in folder.rglob("*") if p.is_file() and not p.name.endswith(".lock") and p.name not in exclude
    )
    signature = tuple((p.relative_to(folder).as_posix(), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    return _identity(str(folder), signature)


@lru_cache(maxsize=32)
def _identity(folder: str, signature: tuple[tuple[str, int, int], ...]) -> str:
    digest = hashlib.sha256()
    for relative, size, _ in signature:
        digest.update(f"{relative}\0{size}\0".encode())
        with (Path(folder) / relative).open("rb") as file:
            if size <= FULL_HASH_LIMIT:
                for block in iter(lambda: file.read(1 << 20), b""):
                    digest.update(block)
            else:
                for offset in (0, size // 2, size - WINDOW):
                    file.seek(offset)
                    digest.update(file.read(WINDOW))
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """sha256 of one file's whole content, read 1 MiB at a time."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
