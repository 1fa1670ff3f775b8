"""Writing files safely: atomic writes, the usual permissions, and output paths checked before any work.

A reader never sees a half-written file and an interrupted write leaves the old one: every write goes
to ``.<name>.<pid>.<random>.mgd-tmp`` next to the target and is renamed over it. The temporary file is
created with mode 0666 less the umask, as ``open()`` would create the target. Temporary folders
(`temporary_folder`) are named the same way. Temporaries left by a killed process (its pid no longer
runs) are removed by `remove_stale_temporaries`. A write that finds the disk full is a one-line
`DiskFullError` naming the folder, with nothing partial left.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import math
import os
import re
import secrets
import shutil
import stat
from pathlib import Path
from typing import Any, Iterator

from mgd_sam2.errors import ConfigError, DiskFullError

TEMPORARY_SUFFIX = ".mgd-tmp"
TEMPORARY_NAME = re.compile(rf"^\..+\.(\d+)\.[0-9a-f]{{8}}{re.escape(TEMPORARY_SUFFIX)}$")
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def temporary_name(name: str) -> str:
    """``.<name>.<pid>.<random>.mgd-tmp``: a temporary of this process, recognised by `TEMPORARY_NAME`."""
    return f".{name}.{os.getpid()}.{secrets.token_hex(4)}{TEMPORARY_SUFFIX}"


def is_disk_full(error: BaseException) -> bool:
    """Whether ``error``, or an error it was raised from, is a full disk or an exceeded quota (libraries such as
    ONNX or safetensors wrap the OSError, or keep only its text)."""
    while error is not None:
        if isinstance(error, OSError) and error.errno in DISK_FULL:
            return True
        if "No space left on device" in str(error) or "Disk quota exceeded" in str(error):
            return True
        error = error.__cause__ or error.__context__
    return False


@contextlib.contextmanager
def disk_full_errors(path: str | Path) -> Iterator[None]:
    """Turn a full disk while writing ``path`` into a one-line DiskFullError naming its folder."""
    try:
        yield
    except Exception as error:
        if isinstance(error, DiskFullError) or not is_disk_full(error):
            raise
        folder = Path(path).parent
        raise DiskFullError(
            f"no space left on the device of {folder}: {Path(path).name} was not written (nothing partial is left); "
            "free some space there or write to another folder, and run again"
        ) from None


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path`` in one rename, with the mode the umask
    gives a new file (as open() does; a writer that recreates the file, as safetensors' does with 0600, is undone)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.parent / temporary_name(path.name)
    try:
        with disk_full_errors(path):
            os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))  # the umask applies
            mode = stat.S_IMODE(temporary.stat().st_mode)
            yield temporary
            if stat.S_IMODE(temporary.stat().st_mode) != mode:
                os.chmod(temporary, mode)
            os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()


@contextlib.contextmanager
def temporary_folder(parent: str | Path, name: str) -> Iterator[Path]:
    """A new private folder ``parent/.<name>.<pid>.<random>.mgd-tmp``, removed with its content on exit; if the
    process is killed, `remove_stale_temporaries` of ``parent`` removes it later."""
    folder = Path(parent) / temporary_name(name)
    folder.mkdir(mode=0o700, parents=False)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it runs, as another user
        return True
    return True


def remove_stale_temporaries(folder: str | Path) -> int:
    """Delete this user's temporary files and folders (`atomic_path`, `temporary_folder`) in ``folder``
    whose process is gone; returns how many. Links and other users' entries are left alone."""
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    removed = 0
    for path in folder.iterdir():
        match = TEMPORARY_NAME.match(path.name)
        if not match or path.is_symlink() or pid_alive(int(match.group(1))):
            continue
        try:
            if path.lstat().st_uid != os.getuid():
                continue
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
        except FileNotFoundError:  # removed meanwhile by another process cleaning up
            continue
        removed += 1
    return removed


def broken_link(path: str | Path) -> str | None:
    """ "a broken link: it points to TARGET, which is not there" where ``path`` is a link to nothing, else None (for a
    message that says why a file a user named is missing)."""
    path = Path(path)
    if path.is_symlink() and not path.exists():
        return f"a broken link: it points to {os.readlink(path)}, which is not there"
    return None


def file_key(path: str | Path) -> tuple[str, int, int, int, int, int]:
    """What tells a file's bytes apart without reading them: its resolved path, device, inode, size, modification
    and change times (a rewrite whose modification time is set back still changes the change time)."""
    status = Path(path).stat()
    return (str(Path(path).resolve()), status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns,
            status.st_ctime_ns)  # fmt: skip


def file_digest(path: str | Path) -> str:
    """``"sha256:<hex>"`` of the file ``path``'s bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while block := file.read(1 << 20):
            digest.update(block)
    return f"sha256:{digest.hexdigest()}"


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(text)


def json_safe(data: Any) -> Any:
    """``data`` with NaN and infinite floats as None (JSON has no NaN; Python's would write invalid JSON)."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {key: json_safe(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [json_safe(value) for value in data]
    return data


def write_json(path: str | Path, data: Any) -> None:
    """Valid JSON (undefined numbers such as mBA without boundaries as null), written atomically."""
    write_text(path, json.dumps(json_safe(data), indent=2, allow_nan=False) + "\n")


def _check_writable(folder: Path, flag: str, path: Path) -> None:
    """Create and remove a temporary file in ``folder``: the honest test (permissions, read-only mounts)."""
    probe = folder / f".write-test.{os.getpid()}.{secrets.token_hex(4)}{TEMPORARY_SUFFIX}"
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        probe.unlink()
    except OSError as error:
        raise ConfigError(f"{flag} {path}: cannot write in {folder} ({error.strerror or error})") from None


def _check_creatable_under(path: Path, flag: str) -> None:
    """The closest existing ancestor of ``path`` must be a folder we can write in (so ``path`` can be made)."""
    ancestor = path.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ConfigError(f"{flag} {path}: {ancestor} is a file, not a folder")
    _check_writable(ancestor, flag, path)


@contextlib.contextmanager
def _permission_errors(flag: str, path: Path) -> Iterator[None]:
    try:
        yield
    except PermissionError as error:  # a folder on the way that we may not even look into
        raise ConfigError(f"{flag} {path}: {error.strerror} ({error.filename})") from None


def check_output_file(path: str | Path, flag: str, fix: str = "give a file name") -> Path:
    """Fail now, with a one-line error naming ``path``, unless a file can be written there (``fix``: what to do
    where ``path`` is a folder)."""
    path = Path(path)
    with _permission_errors(flag, path):
        if path.is_dir():
            raise ConfigError(f"{flag} {path} is a folder; {fix}")
        _check_creatable_under(path, flag)
    return path


def check_output_dir(path: str | Path, flag: str) -> Path:
    """Fail now, with a one-line error naming ``path``, unless files can be written into the folder ``path``."""
    path = Path(path)
    with _permission_errors(flag, path):
        if path.exists() and not path.is_dir():
            raise ConfigError(f"{flag} {path} is a file, not a folder")
        if path.is_dir():
            _check_writable(path, flag, path)
        else:
            _check_creatable_under(path, flag)
    return path
