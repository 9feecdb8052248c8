"""Output paths checked before any work starts: a path that cannot be written is one line at
once, not a failure after a recording, a grading run or an export.

``check_output_file`` (``record --out FILE.h5``, ``export --csv OUT``) and ``check_output_dir``
(``record --out DIR``, ``grade --report DIR``) refuse a dangling symbolic link, a name longer
than the file system takes (counting the temporary ``.<name>.XXXXXXXX.partial`` written first),
a parent that is not a directory and a directory that cannot be written (proved by creating
and removing a file, which also catches read-only mounts and root on them).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from nmt_monitor.errors import UserError

#: ``new_partial_file`` names the temporary file ``.<name>.`` + 8 random characters + ``.partial``.
PARTIAL_EXTRA = 2 + 8 + len(".partial")


def shown(path: Path | str, limit: int = 80) -> str:
    """A path for a one-line message: very long names are shortened in the middle."""
    text = str(path)
    if len(text) <= limit:
        return text
    return text[: limit // 2 - 2] + "…" + text[-(limit // 2 - 1):]


def _existing_ancestor(path: Path) -> Path:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def name_max(directory: Path | str) -> int:
    """Longest file name (bytes) in ``directory`` (or the nearest folder above that exists)."""
    try:
        return int(os.pathconf(_existing_ancestor(Path(directory).absolute()), "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):
        return 255


def _path_max(directory: Path) -> int:
    try:
        return int(os.pathconf(_existing_ancestor(directory.absolute()), "PC_PATH_MAX"))
    except (OSError, ValueError, AttributeError):
        return 4096


def _check_link(path: Path, what: str) -> None:
    if os.path.islink(path) and not os.path.exists(path):
        try:
            target = os.readlink(path)
        except OSError:
            target = "?"
        raise UserError(f"{what} {shown(path)} is a dangling symbolic link (to {shown(target)}): "
                        "give a real path, or remove the link")


def _check_names(path: Path, what: str, names: list[str]) -> None:
    directory = path.parent
    limit = name_max(directory)
    for name in names:
        size = len(os.fsencode(name))
        if size > limit:
            raise UserError(f"{what} {shown(path)}: the name is too long for the file system "
                            f"({size} bytes with what is added to it; at most {limit} here)")
    full = len(os.fsencode(str(path.absolute()))) + PARTIAL_EXTRA
    if full >= _path_max(directory):
        raise UserError(f"{what} {shown(path)}: the path is too long ({full} bytes; at most {_path_max(directory) - 1})")


def check_writable_dir(directory: Path | str, what: str) -> None:
    """Prove ``directory`` (which exists) takes new files by creating and removing one."""
    directory = Path(directory)
    try:
        fd, probe = tempfile.mkstemp(dir=directory, prefix=".nmt-write-test-")
    except OSError as exc:
        raise UserError(f"{what}: cannot write in {shown(directory)} ({exc.strerror or exc})") from None
    os.close(fd)
    try:
        os.unlink(probe)
    except OSError:
        pass


def check_output_name(path: Path | str, what: str, *, extra_names: tuple[str, ...] = (),
                      directory: bool = False) -> Path:
    """Refuse a name (or the temporary name written first, or ``extra_names`` written next to
    it, e.g. ``<name>.journal``) too long for the file system, and a dangling symbolic link.
    ``directory``: ``path`` is a folder (no temporary name of its own)."""
    path = Path(path)
    names = [path.name] if directory else [path.name, f".{path.name}.XXXXXXXX.partial", *extra_names]
    _check_names(path, what, names)  # first: a name too long makes every look-up fail
    _check_link(path, what)
    return path


def check_output_file(path: Path | str, what: str, *, extra_names: tuple[str, ...] = (),
                      create_parents: bool = False) -> Path:
    """Refuse at once an output file that cannot be written (see the module docstring).

    ``create_parents``: a missing directory will be created (by the caller), so it need not
    exist yet."""
    path = check_output_name(path, what, extra_names=extra_names)
    parent = path.parent if str(path.parent) else Path(".")
    _check_link(parent, what)
    if os.path.exists(parent):
        if not os.path.isdir(parent):
            raise UserError(f"{what} {shown(path)}: {shown(parent)} is not a directory")
        check_writable_dir(parent, what)
    elif not create_parents:
        raise UserError(f"{what} {shown(path)}: no such directory {shown(parent)}")
    return path


def check_output_dir(directory: Path | str, what: str) -> Path:
    """Refuse at once an output directory that cannot be used: a dangling link, a file, a
    name too long, a folder that cannot be created or written."""
    directory = check_output_name(directory, what, directory=True)
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise UserError(f"{what} {shown(directory)} exists and is not a directory")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{what} {shown(directory)}: cannot create the directory ({exc.strerror or exc})") from None
    check_writable_dir(directory, what)
    return directory
