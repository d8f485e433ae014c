"""Builders of bad (and awkward) SIPs, one per SIP code, for integration and end-to-end tests.

Each ``sip_<code>_<what>(base)`` function creates a fresh SIP under ``base`` and returns its path;
the SIP must make quality assurance (or the reader) report that code, naming the offending path in
the message. Some need root (device nodes); the caller decides whether to skip.
"""

from __future__ import annotations

import io
import os
import socket
import stat
import tarfile
import unicodedata
import zipfile
from pathlib import Path

NFC_E = unicodedata.normalize("NFC", "é")
NFD_E = unicodedata.normalize("NFD", "é")

#: legal names that must survive every reader byte for byte
AWKWARD_NAMES: tuple[str, ...] = (
    "with space.txt",
    "100% sure.txt",
    "zero-bytes.dat",
    f"caf{NFC_E}-nfc.txt",
    f"caf{NFD_E}-nfd.txt",
    "日本語/ファイル.txt",
    "#hash & ampersand;'quote'.txt",
    "back\\slash.txt",
)


def _fresh(base: Path, name: str) -> Path:
    path = base / name
    path.mkdir(parents=True)
    return path


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    """Write ``files`` ('/'-separated path -> content) under ``root``."""
    for rel, data in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return root


def zip_of(path: Path, members: dict[str, bytes]) -> Path:
    """A zip archive holding ``members`` (name -> content), names written as given."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def zip_symlink(zf: zipfile.ZipFile, name: str, target: str) -> None:
    """Store a symbolic link the way Info-ZIP does: Unix mode S_IFLNK, content = target."""
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    zf.writestr(info, target)


def tar_of(path: Path, members: list[tarfile.TarInfo | tuple[str, bytes]], mode: str = "w") -> Path:
    """A tar archive of ``members``: (name, content) pairs for files, or ready TarInfo entries."""
    with tarfile.open(path, mode, encoding="utf-8", errors="surrogateescape") as tf:  # type: ignore[call-overload]
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tf.addfile(member)
            else:
                name, data = member
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return path


def tar_link(name: str, target: str, hard: bool = False) -> tarfile.TarInfo:
    """A tar symbolic (or hard) link entry."""
    info = tarfile.TarInfo(name)
    info.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE
    info.linkname = target
    return info


def replace_bytes(path: Path, old: bytes, new: bytes) -> Path:
    """Patch an archive in place (``old`` and ``new`` of equal length), e.g. to forge a name."""
    assert len(old) == len(new)
    data = path.read_bytes()
    assert old in data
    path.write_bytes(data.replace(old, new))
    return path


# --- one builder per code ------------------------------------------------------------------------


def sip_e001_zip_slip(base: Path) -> Path:
    """Zip members that escape: '../../evil', '/etc/passwd', a backslash trick, a drive letter."""
    return zip_of(
        base / "sip_e001_zip_slip.zip",
        {
            "ok.txt": b"fine",
            "../../evil": b"x",
            "/etc/passwd": b"x",
            "..\\..\\evil.bat": b"x",
            "C:/Windows/evil.dll": b"x",
        },
    )


def sip_e001_tar_slip(base: Path) -> Path:
    """Tar members '../../evil' and '/etc/passwd', and a hard link to a path outside."""
    return tar_of(
        base / "sip_e001_tar_slip.tar",
        [
            ("ok.txt", b"fine"),
            ("../../evil", b"x"),
            ("/etc/passwd", b"x"),
            tar_link("hard", "../x", hard=True),
        ],
    )


def sip_e002_symlink_outside(base: Path) -> Path:
    """Tar symbolic links to '/etc/passwd' and to '../outside'."""
    return tar_of(
        base / "sip_e002_symlink_outside.tar",
        [("ok.txt", b"fine"), tar_link("passwd", "/etc/passwd"), tar_link("sub/up", "../../outside")],
    )


def sip_e002_symlink_loop(base: Path) -> Path:
    """A folder with a symbolic link loop (a -> b -> a) and a broken link."""
    root = write_tree(_fresh(base, "sip_e002_symlink_loop"), {"ok.txt": b"fine"})
    os.symlink("b", root / "a")
    os.symlink("a", root / "b")
    os.symlink("missing.txt", root / "broken")
    return root


def sip_e002_hardlink_missing(base: Path) -> Path:
    """A tar hard link to a member that is not in the archive."""
    return tar_of(
        base / "sip_e002_hardlink_missing.tar", [("ok.txt", b"fine"), tar_link("hard", "nowhere", hard=True)]
    )


def sip_e003_special_files(base: Path) -> Path:
    """A folder holding a character device (needs root), a FIFO and a bound UNIX socket."""
    root = write_tree(_fresh(base, "sip_e003_special_files"), {"ok.txt": b"fine"})
    os.mknod(root / "null-device", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    os.mkfifo(root / "fifo")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(os.fspath(root / "socket"))
    finally:
        sock.close()  # the socket file stays on disk after close
    return root


def sip_e003_tar_devices(base: Path) -> Path:
    """A tar with a character device and a FIFO member."""
    dev = tarfile.TarInfo("dev/null")
    dev.type = tarfile.CHRTYPE
    dev.devmajor, dev.devminor = 1, 3
    fifo = tarfile.TarInfo("pipe")
    fifo.type = tarfile.FIFOTYPE
    return tar_of(base / "sip_e003_tar_devices.tar", [("ok.txt", b"fine"), dev, fifo])


def sip_e004_nfc_collision(base: Path) -> Path:
    """A folder with 'é.txt' in NFC and in NFD."""
    return write_tree(
        _fresh(base, "sip_e004_nfc_collision"), {f"{NFC_E}.txt": b"nfc", f"{NFD_E}.txt": b"nfd"}
    )


def sip_e005_case_collision(base: Path) -> Path:
    """A folder with 'README' and 'readme'."""
    return write_tree(_fresh(base, "sip_e005_case_collision"), {"README": b"upper", "readme": b"lower"})


def sip_e006_invalid_utf8(base: Path) -> Path:
    """A folder holding the file b'bad\\xff.txt'."""
    root = write_tree(_fresh(base, "sip_e006_invalid_utf8"), {"ok.txt": b"fine"})
    with open(os.path.join(os.fsencode(root), b"bad\xff.txt"), "wb") as f:
        f.write(b"latin-1 name")
    return root


def sip_e006_zip_invalid_utf8(base: Path) -> Path:
    """A zip whose member name is b'bad\\xff.txt' without the UTF-8 flag (as Info-ZIP writes it)."""
    path = zip_of(base / "sip_e006_zip_invalid_utf8.zip", {"ok.txt": b"fine", "bad?.txt": b"x"})
    return replace_bytes(path, b"bad?.txt", b"bad\xff.txt")


def sip_e006_zip_flagged_invalid_utf8(base: Path) -> Path:
    """A zip whose member is flagged UTF-8 but whose name bytes are not UTF-8."""
    path = zip_of(base / "sip_e006_zip_flagged_invalid_utf8.zip", {"ok.txt": b"fine", "bad\u00e9.txt": b"x"})
    return replace_bytes(path, "bad\u00e9.txt".encode(), b"bad\xff\xfe.txt")


def sip_e007_empty_directories(base: Path) -> Path:
    """A folder holding only empty folders."""
    root = _fresh(base, "sip_e007_empty_directories")
    (root / "a" / "b").mkdir(parents=True)
    (root / "c").mkdir()
    return root


def sip_e008_corrupt_zip(base: Path) -> Path:
    """A zip cut in half (its central directory is gone)."""
    whole = zip_of(base / "whole.zip", {f"f{i}.txt": os.urandom(2000) for i in range(5)})
    path = base / "sip_e008_corrupt_zip.zip"
    path.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    whole.unlink()
    return path


def sip_e008_truncated_targz(base: Path) -> Path:
    """A .tar.gz whose compressed stream stops short."""
    whole = tar_of(base / "whole.tar.gz", [(f"f{i}.bin", os.urandom(20000)) for i in range(5)], mode="w:gz")
    path = base / "sip_e008_truncated_targz.tar.gz"
    path.write_bytes(whole.read_bytes()[: whole.stat().st_size - 30000])
    whole.unlink()
    return path


def sip_e008_not_an_archive(base: Path) -> Path:
    """A text file named like a tar archive."""
    path = base / "sip_e008_not_an_archive.tgz"
    path.write_bytes(b"this is not an archive\n" * 40)
    return path


def sip_e009_symlink_to_directory(base: Path) -> Path:
    """A folder holding a symbolic link to one of its own folders."""
    root = write_tree(_fresh(base, "sip_e009_symlink_to_directory"), {"docs/a.txt": b"a"})
    os.symlink("docs", root / "docs-link")
    return root


def sip_e010_control_characters(base: Path) -> Path:
    """A folder with a line feed, a carriage return and a tab in file names."""
    return write_tree(
        _fresh(base, "sip_e010_control_characters"),
        {"ok.txt": b"fine", "line\nfeed.txt": b"x", "carriage\rreturn.txt": b"x", "tab\there.txt": b"x"},
    )


def sip_w001_symlink_inside(base: Path) -> Path:
    """A folder with a symbolic link to a file inside it (accepted, with a warning)."""
    root = write_tree(_fresh(base, "sip_w001_symlink_inside"), {"data/real.txt": b"real"})
    os.symlink("data/real.txt", root / "alias.txt")
    return root


def sip_e012_file_and_directory(base: Path) -> Path:
    """A tar holding 'notes' as a file and also 'notes/a.txt', plus a member listed twice."""
    return tar_of(
        base / "sip_e012_file_and_directory.tar",
        [("notes", b"a file"), ("notes/a.txt", b"inside"), ("twice.txt", b"one"), ("twice.txt", b"two")],
    )


def sip_w002_empty_directory(base: Path) -> Path:
    """A folder with a file and an empty folder (accepted, with a warning: bags hold no empty folders)."""
    root = write_tree(_fresh(base, "sip_w002_empty_directory"), {"data/real.txt": b"real"})
    (root / "empty" / "inner").mkdir(parents=True)
    return root


def awkward_sip(base: Path) -> dict[str, bytes]:
    """Legal but awkward names and contents (deep tree, empty file, spaces, %, NFC and NFD)."""
    files = {name: (name.encode() * 3 if "zero" not in name else b"") for name in AWKWARD_NAMES}
    deep = "/".join(f"d{i}" for i in range(60)) + "/deep.txt"
    files[deep] = b"sixty levels down"
    return files
