"""Paths: where the zoo keeps files it can rebuild (generated datasets, decoded image caches), the
`RecipePath` type for component params that name files, the sha256 of a file, and files written
whole or not at all (`atomic_write`)."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, get_args, get_origin

if TYPE_CHECKING:  # for typing only: importing this module stays light
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

    target.parent.mkdir(parents=True, exist_ok=True)
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
