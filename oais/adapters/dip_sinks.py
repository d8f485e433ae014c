"""Where DIPs are written: a folder, a ``.zip`` or ``.tar`` file, or an S3 prefix.

Every sink implements :class:`~oais.domain.ports.DipSink`: files are streamed in one at a time (memory
stays bounded whatever the DIP's size), hashed on the way, and nothing is visible at the destination
until :meth:`commit`:

- a folder or a file is built beside its destination under a hidden ``.NAME.partial-XXXXXXXX`` name
  and renamed into place when whole;
- on S3, ``bagit.txt`` is written last (a prefix without it is not a bag), and :meth:`abort` deletes
  what was written.

Zip and tar files hold the bag in one top-level folder named after the file (RFC 8493 §4.2).
"""

from __future__ import annotations

import os
import shutil
import tarfile
import uuid
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from io import BytesIO
from pathlib import Path, PurePosixPath
from typing import IO, BinaryIO, Protocol

from oais.adapters.hashing import MultiHasher, digest_bytes
from oais.domain.errors import ConflictError, OaisError, StorageError
from oais.domain.fixity import DigestAlgorithm
from oais.domain.ports import ObjectStore
from oais.domain.storage import WriteItem

CHUNK = 1 << 20
BAGIT_TXT = "bagit.txt"
#: Formats that deflate cannot shrink: stored as they are in a zip.
_COMPRESSED = {".png", ".jpg", ".jpeg", ".jp2", ".j2k", ".gif", ".zip", ".gz", ".tgz", ".bz2", ".xz", ".zst"}
#: Destination suffixes and the sink that writes them.
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _check_path(path: str) -> str:
    """A bag-relative path, refused if it could escape the bag."""
    p = PurePosixPath(path)
    if not path or p.is_absolute() or ".." in p.parts or path != p.as_posix():
        raise StorageError(f"'{path}' is not a path inside a bag")
    return path


class _Hashing:
    """A read-only file object that hashes what is read through it."""

    def __init__(self, raw: BinaryIO, algorithms: Sequence[DigestAlgorithm]) -> None:
        self._raw = raw
        self.hasher = MultiHasher(algorithms)

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        self.hasher.update(data)
        return data


def _copy(
    source: IO[bytes], target: IO[bytes], algorithms: Sequence[DigestAlgorithm]
) -> dict[DigestAlgorithm, str]:
    hasher = MultiHasher(algorithms)
    while chunk := source.read(CHUNK):
        hasher.update(chunk)
        target.write(chunk)
    return hasher.hexdigests()


class _PartialFile:
    """A hidden name beside ``dest`` for building it, renamed into place when whole."""

    def __init__(self, dest: Path) -> None:
        self.dest = dest
        self.partial = dest.parent / f".{dest.name}.partial-{uuid.uuid4().hex[:8]}"

    def check(self) -> None:
        if self.dest.exists() or self.dest.is_symlink():
            raise ConflictError(f"{self.dest}: already exists; a DIP is written to a new destination")
        if not self.dest.parent.is_dir():
            raise StorageError(f"{self.dest}: cannot write: {self.dest.parent} is not a directory")
        # Probe with a real write: permission bits do not tell (read-only mounts, quotas, root).
        probe = self.dest.parent / f".{self.dest.name}.probe-{uuid.uuid4().hex[:8]}"
        try:
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise StorageError(f"{self.dest}: cannot write: {_why(exc)}") from exc

    def publish(self) -> None:
        # link + unlink for files, rename for folders: neither replaces a destination that
        # appeared meanwhile.
        try:
            if self.partial.is_dir():
                if self.dest.exists():
                    raise ConflictError(f"{self.dest}: appeared while the DIP was written; nothing replaced")
                os.rename(self.partial, self.dest)
            else:
                with open(self.partial, "rb") as f:
                    os.fsync(f.fileno())
                os.link(self.partial, self.dest)
                os.unlink(self.partial)
        except FileExistsError as exc:
            raise ConflictError(f"{self.dest}: appeared while the DIP was written; nothing replaced") from exc
        except OSError as exc:
            raise StorageError(f"{self.dest}: cannot publish the DIP: {_why(exc)}") from exc

    def remove(self) -> None:
        if self.partial.is_dir():
            shutil.rmtree(self.partial, ignore_errors=True)
        else:
            self.partial.unlink(missing_ok=True)


@contextmanager
def _writing(dest: Path, path: str) -> Iterator[None]:
    """Turn an OSError while writing into a StorageError naming the destination and the file."""
    try:
        yield
    except OSError as exc:
        raise StorageError(f"{dest}: cannot write {path}: {_why(exc)}") from exc


class DirectorySink:
    """A DIP as a folder."""

    def __init__(self, dest: Path) -> None:
        self._file = _PartialFile(dest)

    @property
    def destination(self) -> str:
        return str(self._file.dest)

    def check(self) -> None:
        self._file.check()
        try:
            self._file.partial.mkdir()
        except OSError as exc:
            raise StorageError(f"{self._file.dest}: cannot write: {_why(exc)}") from exc

    def _target(self, path: str) -> Path:
        target = self._file.partial / _check_path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def add(
        self, path: str, source: Path, algorithms: Sequence[DigestAlgorithm]
    ) -> dict[DigestAlgorithm, str]:
        with _writing(self._file.dest, path):
            target = self._target(path)
            with open(source, "rb") as src, open(target, "wb") as out:
                digests = _copy(src, out, algorithms)
                out.flush()
                os.fsync(out.fileno())
            return digests

    def add_bytes(
        self, path: str, data: bytes, algorithms: Sequence[DigestAlgorithm]
    ) -> dict[DigestAlgorithm, str]:
        with _writing(self._file.dest, path):
            target = self._target(path)
            with open(target, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
        return digest_bytes(data, algorithms)

    def place(self, path: str) -> Path | None:
        with _writing(self._file.dest, path):
            return self._target(path)

    def adopt(self, path: str, algorithms: Sequence[DigestAlgorithm]) -> dict[DigestAlgorithm, str]:
        with _writing(self._file.dest, path), open(self._file.partial / _check_path(path), "rb") as f:
            hasher = MultiHasher(algorithms)
            while chunk := f.read(CHUNK):
                hasher.update(chunk)
            os.fsync(f.fileno())
            return hasher.hexdigests()

    def commit(self) -> None:
        self._file.publish()

    def abort(self) -> None:
        self._file.remove()


def _bag_name(dest: Path) -> str:
    name = dest.name
    for suffix in ARCHIVE_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)] or "dip"
    return name


class _ArchiveFileSink:
    """A DIP as one archive file (zip or tar) holding the bag in one top-level folder, built under a
    hidden name and renamed into place when whole."""

    def __init__(self, dest: Path) -> None:
        self._file = _PartialFile(dest)
        self._root = _bag_name(dest)
        self._archive: zipfile.ZipFile | tarfile.TarFile | None = None

    @property
    def destination(self) -> str:
        return str(self._file.dest)

    def _create(self, path: Path) -> zipfile.ZipFile | tarfile.TarFile:
        raise NotImplementedError

    def check(self) -> None:
        self._file.check()
        try:
            # Kept open across add() calls, closed by commit() or abort().
            self._archive = self._create(self._file.partial)
        except OSError as exc:
            raise StorageError(f"{self._file.dest}: cannot write: {_why(exc)}") from exc

    def _name(self, path: str) -> str:
        return f"{self._root}/{_check_path(path)}"

    def place(self, path: str) -> Path | None:
        return None

    def adopt(self, path: str, algorithms: Sequence[DigestAlgorithm]) -> dict[DigestAlgorithm, str]:
        raise StorageError(f"{self._file.dest}: {path}: an archive file takes copies only")

    def commit(self) -> None:
        assert self._archive is not None, "check() opens the archive"
        with _writing(self._file.dest, "the end of the archive"):
            self._archive.close()
        self._file.publish()

    def abort(self) -> None:
        if self._archive is not None:
            with suppress(OSError, ValueError):
                self._archive.close()
        self._file.remove()


class ZipSink(_ArchiveFileSink):
    """A DIP as a zip file (zip64 where needed), the bag in one top-level folder."""

    def _create(self, path: Path) -> zipfile.ZipFile:
        return zipfile.ZipFile(path, "x", allowZip64=True)

    def _open(self, path: str) -> IO[bytes]:
        assert isinstance(self._archive, zipfile.ZipFile), "check() opens the zip file"
        stored = PurePosixPath(path).suffix.lower() in _COMPRESSED
        info = zipfile.ZipInfo(self._name(path), date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        return self._archive.open(info, "w", force_zip64=True)

    def add(
        self, path: str, source: Path, algorithms: Sequence[DigestAlgorithm]
    ) -> dict[DigestAlgorithm, str]:
        with _writing(self._file.dest, path), open(source, "rb") as src, self._open(path) as out:
            return _copy(src, out, algorithms)

    def add_bytes(
        self, path: str, data: bytes, algorithms: Sequence[DigestAlgorithm]
    ) -> dict[DigestAlgorithm, str]:
        with _writing(self._file.dest, path), self._open(path) as out:
            out.write(data)
        return digest_bytes(data, algorithms)


class TarSink(_ArchiveFileSink):
    """A DIP as a tar file (POSIX pax; gzip-compressed for ``.tar.gz``/``.tgz``), the bag in one
    top-level folder."""

    def _create(self, path: Path) -> tarfile.TarFile:
        if self._file.dest.name.endswith((".tar.gz", ".tgz")):
            return tarfile.open(path, "x:gz", format=tarfile.PAX_FORMAT)
        return tarfile.open(path, "x", format=tarfile.PAX_FORMAT)

    def _add(self, path: str, size: int, reader: IO[bytes] | _Hashing) -> None:
        assert isinstance(self._archive, tarfile.TarFile), "check() opens the tar file"
        info = tarfile.TarInfo(self._name(path))
        info.size = size
        info.mode = 0o644
        self._archive.addfile(info, reader)

    def add(
        self, path: str, source: Path, algorithms: Sequence[DigestAlgorithm]
    ) -> dict[DigestAlgorithm, str]:
        with _writing(self._file.dest, path), open(source, "rb") as src:
            reader = _Hashing(src, algorithms)
            self._add(path, os.fstat(src.fileno()).st_size, reader)
            return reader.hasher.hexdigests()

    def add_bytes(
        self, path: str, data: bytes, algorithms: Sequence[DigestAlgorithm]
    ) -> dict[DigestAlgorithm, str]:
        with _writing(self._file.dest, path):
            self._add(path, len(data), BytesIO(data))
        return digest_bytes(data, algorithms)


class Deleter(Protocol):
    """Deletes objects of a DIP destination that an aborted DIP wrote."""

    def __call__(self, keys: Sequence[str]) -> None: ...


class ObjectStoreSink:
    """A DIP under a key prefix of an object store (an S3 bucket): every object written and read
    back by the store's own checks, ``bagit.txt`` last."""

    def __init__(self, store: ObjectStore, destination: str, delete: Deleter) -> None:
        """Args:
        store: the store, rooted at the DIP's prefix.
        destination: the prefix as the user named it (``s3://bucket/prefix``).
        delete: removes written keys when the DIP is aborted.
        """
        self._store = store
        self._destination = destination
        self._delete = delete
        self._written: list[str] = []
        self._bagit: bytes | None = None

    @property
    def destination(self) -> str:
        return self._destination

    def check(self) -> None:
        self._store.describe()  # the bucket exists and the credentials work
        try:
            taken = next(iter(self._store.list_keys("")), None)
        except OaisError as exc:
            raise StorageError(f"{self._destination}: cannot list: {exc}") from exc
        if taken is not None:
            raise ConflictError(
                f"{self._destination}: already holds objects ({taken}); a DIP is written to a new prefix"
            )

    def _write(self, item: WriteItem) -> None:
        for r in self._store.write([item]):
            self._written.append(r.key)

    def add(
        self, path: str, source: Path, algorithms: Sequence[DigestAlgorithm]
    ) -> dict[DigestAlgorithm, str]:
        if path == BAGIT_TXT:
            return self.add_bytes(path, source.read_bytes(), algorithms)
        with open(source, "rb") as src:
            hasher = MultiHasher([*algorithms, DigestAlgorithm.SHA256])
            while chunk := src.read(CHUNK):
                hasher.update(chunk)
        digests = hasher.hexdigests()
        size = source.stat().st_size
        self._write(
            WriteItem(
                key=_check_path(path), size=size, sha256=digests[DigestAlgorithm.SHA256], path=str(source)
            )
        )
        return {a: digests[a] for a in algorithms}

    def add_bytes(
        self, path: str, data: bytes, algorithms: Sequence[DigestAlgorithm]
    ) -> dict[DigestAlgorithm, str]:
        if path == BAGIT_TXT:
            self._bagit = data  # written last, by commit
        else:
            sha = digest_bytes(data, [DigestAlgorithm.SHA256])[DigestAlgorithm.SHA256]
            self._write(WriteItem(key=_check_path(path), size=len(data), sha256=sha, data=data))
        return digest_bytes(data, algorithms)

    def place(self, path: str) -> Path | None:
        return None

    def adopt(self, path: str, algorithms: Sequence[DigestAlgorithm]) -> dict[DigestAlgorithm, str]:
        raise StorageError(f"{self._destination}: {path}: an object store takes copies only")

    def commit(self) -> None:
        if self._bagit is None:
            raise StorageError(f"{self._destination}: the DIP has no bagit.txt")
        data = self._bagit
        sha = digest_bytes(data, [DigestAlgorithm.SHA256])[DigestAlgorithm.SHA256]
        self._write(WriteItem(key=BAGIT_TXT, size=len(data), sha256=sha, data=data))

    def abort(self) -> None:
        if self._written:
            self._delete(self._written)
            self._written = []


def sink_for(
    destination: str,
    s3_store: Callable[[str, str], tuple[ObjectStore, Deleter]] | None = None,
) -> DirectorySink | ZipSink | TarSink | ObjectStoreSink:
    """The sink for a destination: ``s3://bucket/prefix``, a ``.zip``, ``.tar``, ``.tar.gz`` or
    ``.tgz`` file, or else a folder.

    Args:
        destination: as the user named it.
        s3_store: builds (store rooted at the prefix, deleter) for a bucket and a prefix.

    Raises:
        ConfigError: an S3 destination that no configuration can reach (from ``s3_store``).
        StorageError: an S3 destination without a bucket or a prefix.
    """
    if destination.startswith("s3://"):
        bucket, _, prefix = destination[len("s3://") :].partition("/")
        prefix = prefix.strip("/")
        if not bucket or not prefix:
            raise StorageError(f"{destination}: an S3 destination is s3://BUCKET/PREFIX (a new prefix)")
        if s3_store is None:
            raise StorageError(f"{destination}: S3 destinations are not configured here")
        store, delete = s3_store(bucket, prefix)
        return ObjectStoreSink(store, destination, delete)
    path = Path(destination).expanduser()
    if path.name.endswith(".zip"):
        return ZipSink(path)
    if path.name.endswith((".tar", ".tar.gz", ".tgz")):
        return TarSink(path)
    return DirectorySink(path)
