"""Paths: where the zoo keeps files it can rebuild (generated datasets, decoded image caches), the
`RecipePath` type for component params that name files, the sha256 of a file, and files written
whole or not at all (`atomic_write`)."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, get_args, get_origin

from zoo.errors import UsageError

if TYPE_CHECKING:  # for typing only: importing this module stays light (pandas: when a CSV is read)
    import pandas as pd
    from pydantic.fields import FieldInfo

CACHE_ENV = "ZOO_CACHE_DIR"


class RecipeRelative:
    """Marks a params field as a path: a relative one resolves against the recipe's folder."""


# A component param that names a file or folder. In a recipe file, a relative path means
# relative to that file's folder (so a recipe works from any working directory); given with
# --set, relative to the working directory. The resolved recipe holds the absolute path.
RecipePath = Annotated[str, RecipeRelative()]


def is_path_field(field: FieldInfo) -> bool:
    """Whether a pydantic field is a `RecipePath`, alone or in a union such as `RecipePath | None`."""
    return any(isinstance(m, RecipeRelative) for m in field.metadata) or _marked(field.annotation)


def _marked(annotation: object) -> bool:
    if get_origin(annotation) is Annotated:
        return any(isinstance(m, RecipeRelative) for m in get_args(annotation)[1:])
    return any(_marked(member) for member in get_args(annotation))


def cache_root() -> Path:
    """`$ZOO_CACHE_DIR`, else `$XDG_CACHE_HOME/erosion-zoo`, else `~/.cache/erosion-zoo`."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "erosion-zoo"


def build_once(target: Path, builder: Callable[[Path], object], usable: Callable[[Path], bool] | None = None) -> Path:
    """Create folder `target` with `builder(tmp)` exactly once, even across processes.

    The builder writes into a temporary sibling, which is renamed into place when complete, so a
    half-built folder is never seen; concurrent callers wait on a lock (`filelock`, on the sibling
    file `.<name>.lock`) and reuse the result. A folder that `usable` rejects (damaged since: a full
    disk, an edit) is removed and built again, under the same lock.
    """

    def ready() -> bool:
        return target.is_dir() and (usable is None or usable(target))

    if ready():
        return target
    from filelock import FileLock  # here, not at the top: `zoo list` and `zoo validate` import this module

    make_folder(target.parent, "the cache folder", hint=f"point {CACHE_ENV}, or the recipe's cache_dir, at a folder")
    with FileLock(str(target.parent / f".{target.name}.lock")):
        if ready():
            return target
        shutil.rmtree(target, ignore_errors=True)
        for stale in target.parent.glob(f".{target.name}.*"):  # left by a builder killed with -9
            if stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            builder(tmp)
            os.replace(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return target


def regular_file(path: Path, what: str, hint: str) -> Path:
    """`path` when it is a regular file; otherwise one `UsageError` saying why (missing, a folder, a
    pipe or a device that reading would block on or never finish, a name the system cannot take)."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise UsageError(f"{what} '{os.path.abspath(path)}' does not exist", hint=hint) from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read {what} '{path}': {os_reason(exc)}", hint=hint) from None
    if stat.S_ISDIR(info.st_mode):
        raise UsageError(f"{what} '{path}' is a folder, not a file", hint=hint)
    if not stat.S_ISREG(info.st_mode):
        raise UsageError(f"{what} '{path}' is not a regular file (a pipe or a device?)", hint=hint)
    return path


def read_csv(path: Path, what: str, hint: str, dtype: object = None, skip_initial_space: bool = False) -> pd.DataFrame:
    """A CSV file as a table (`dtype` as pandas takes it; `skip_initial_space`: spaces after a comma
    are not part of a cell), or one `UsageError` saying what is wrong with it (not a regular file,
    empty, not CSV, not UTF-8)."""
    import pandas as pd

    regular_file(path, what, hint=hint)
    try:
        table: pd.DataFrame = pd.read_csv(  # type: ignore[call-overload]  # dtype: pandas' own union
            path, dtype=dtype, skipinitialspace=skip_initial_space
        )
    except pd.errors.EmptyDataError:
        raise UsageError(f"{what} '{path}' is empty", hint=hint) from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OverflowError) as exc:
        raise UsageError(f"{what} '{path}' is not a readable CSV ({type(exc).__name__})", hint=hint) from None
    return table


def make_folder(folder: Path, what: str, hint: str) -> None:
    """Make `folder` and its parents, or say in one `UsageError` why it cannot be (a file in the way,
    no permission), naming `what` it is for."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (OSError, ValueError) as exc:
        blocker = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None)
        reason = f"'{blocker}' is a file, not a folder" if blocker is not None else os_reason(exc)
        raise UsageError(f"cannot make {what} '{folder}': {reason}", hint=hint) from None


def os_reason(exc: BaseException) -> str:
    """An OS error's reason (`Permission denied`), else the exception's kind."""
    reason = exc.strerror if isinstance(exc, OSError) else None
    return reason or type(exc).__name__


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Call `write(tmp_path)`, then rename the temporary file over `path`."""
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(handle)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def safe_name(text: str) -> str:
    """`text` as one file-name part: letters, digits, '-', '_' and '.' only (no '/', no '..')."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text)).strip("._") or "x"
