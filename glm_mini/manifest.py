"""Manifests: the size and SHA-256 of every file of a cache, written last and checked on load.

How it works
------------
A cache (the generated corpus, a trained tokenizer, a packed corpus) is a few files. Once they are all written,
``write_manifest`` records each one's size and SHA-256 in a JSON manifest, itself written atomically (a temp file in
the same folder, then ``os.replace``), so a manifest exists only after every file it lists was complete.
``manifest_problem`` re-reads the files and returns ``None`` when each one still has its recorded size and checksum,
else one sentence saying what is wrong ("train.jsonl has 812 bytes, the manifest says 1624"). A cut, edited, deleted
or half-written file is therefore noticed; the caller either raises (a folder the user asked for) or warns
"rebuilding X because ..." and rebuilds (a cache the kit owns).

``replace_folder(new, folder, owned)`` puts a freshly written folder in the place of an old copy. It never deletes a
file it did not write: a path that is a regular file, or a folder holding any name outside ``owned``, is refused
with ``FileExistsError``, and the old copy's files are removed by name only after the new copy is in place.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from pathlib import Path

from glm_mini.atomic_write import open_permissions, write_atomic  # noqa: F401 (open_permissions: used by the caches)

MANIFEST_FORMAT = "glm_mini-manifest-1"


class CacheRebuildWarning(UserWarning):
    """A cached file was missing, damaged or stale and is being rebuilt."""


def warn_rebuild(what: str, path: Path, because: str) -> None:
    warnings.warn(f"rebuilding {what} at {path} because {because}", CacheRebuildWarning, stacklevel=3)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to a temp file beside ``path``, then rename it over ``path`` (never a half-written file)."""
    write_atomic(Path(path), lambda f: f.write(data))


def write_manifest(manifest: Path, files: list[Path], **extra) -> None:
    """Record size and SHA-256 of ``files`` (named relative to the manifest's folder), plus ``extra`` fields."""
    entries = {str(p.relative_to(manifest.parent)): {"bytes": p.stat().st_size, "sha256": file_sha256(p)}
               for p in files}
    record = {"format": MANIFEST_FORMAT, "files": entries, **extra}
    atomic_write_bytes(manifest, json.dumps(record, indent=1, sort_keys=True).encode())


def read_manifest(manifest: Path) -> dict | None:
    """The manifest as a dict, or ``None`` if it is missing or not a manifest this module wrote."""
    try:
        record = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    ok = isinstance(record, dict) and record.get("format") == MANIFEST_FORMAT and isinstance(record.get("files"), dict)
    return record if ok else None


def manifest_problem(manifest: Path, required: tuple[str, ...] = (), checksums: bool = True) -> str | None:
    """``None`` if every file the manifest lists (and every ``required`` name) is intact, else what is wrong."""
    if not manifest.is_file():
        return f"{manifest.name} is missing (the files were never completely written, or by an older kit)"
    record = read_manifest(manifest)
    if record is None:
        return f"{manifest.name} is not a valid manifest"
    files = record["files"]
    for name in required:
        if name not in files:
            return f"{manifest.name} does not list {name}"
    for name, entry in files.items():
        path = manifest.parent / name
        if not path.is_file():
            return f"{name} is missing"
        size = path.stat().st_size
        if size != entry.get("bytes"):
            return f"{name} has {size} bytes, {manifest.name} says {entry.get('bytes')}"
        if checksums and file_sha256(path) != entry.get("sha256"):
            return f"{name} has a different SHA-256 than {manifest.name} records (the file was changed)"
    return None


def check_replaceable(folder: Path, owned: set[str]) -> None:
    """Raise ``FileExistsError`` unless ``folder`` is absent or a folder holding only files named in ``owned``."""
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise FileExistsError(f"{folder}: exists and is not a folder; refusing to replace it (expected a new "
                              f"folder, or one holding only {', '.join(sorted(owned))})")
    if folder.exists():
        foreign = sorted(p.name for p in folder.iterdir() if p.name not in owned or not p.is_file())
        if foreign:
            raise FileExistsError(f"{folder}: holds files the kit did not write ({', '.join(foreign[:5])}); "
                                  f"refusing to replace it: choose a new or empty folder")


def replace_folder(new: Path, folder: Path, owned: set[str]) -> None:
    """Move the complete folder ``new`` to ``folder``; an old ``folder`` may hold only names in ``owned``."""
    check_replaceable(folder, owned)
    if not folder.exists():
        os.replace(new, folder)
        return
    old = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.old-"))
    os.replace(folder, old / folder.name)  # the old copy stays on disk until the new one is in place
    os.replace(new, folder)
    for p in (old / folder.name).iterdir():
        if p.name in owned:
            p.unlink()
    (old / folder.name).rmdir()  # raises (keeping it) only if someone wrote into it meanwhile
    old.rmdir()
