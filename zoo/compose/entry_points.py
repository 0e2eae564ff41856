"""The entry points of group `zoo`, read straight from the installed distributions' metadata.

What `importlib.metadata.entry_points(group="zoo")` answers, without importing
`importlib.metadata` (a third of `zoo --help`'s own time): every folder on `sys.path` is listed
once, and only the `entry_points.txt` of its `*.dist-info` and `*.egg-info` folders is read; of
two distributions with the same (normalised) name, the first on `sys.path` counts, as there.
Distributions inside zip files on `sys.path` are not read.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass

METADATA_SUFFIXES = (".dist-info", ".egg-info")


@dataclass(frozen=True)
class EntryPoint:
    """One entry point: `name = value` in a distribution's group."""

    name: str
    value: str  # "module" or "module:attr"
    distribution: str
    version: str | None

    def load(self) -> object:
        """Import the module (and take the attribute) the entry point names."""
        module_name, _, attr = self.value.split("[")[0].partition(":")  # "[extras]" name no import
        target: object = importlib.import_module(module_name.strip())
        for part in attr.strip().split(".") if attr.strip() else ():
            target = getattr(target, part)
        return target


def normalised(name: str) -> str:
    """A distribution's name as Python packaging compares names (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def entry_points(group: str) -> list[EntryPoint]:
    """Every installed distribution's entry points of `group`, in `sys.path` order."""
    found: list[EntryPoint] = []
    seen: set[str] = set()
    for folder in sys.path:
        try:
            names = sorted(os.listdir(folder or "."))
        except OSError:  # not a folder (a zip file), or gone
            continue
        for entry in names:
            if not entry.endswith(METADATA_SUFFIXES):
                continue
            info = os.path.join(folder or ".", entry)
            name, version = _name_and_version(info, entry)
            if normalised(name) in seen:
                continue
            seen.add(normalised(name))
            found += [EntryPoint(key, value, name, version) for key, value in _group(info, group)]
    return found


def _name_and_version(info: str, entry: str) -> tuple[str, str | None]:
    """A distribution's name and version: from its metadata file, else from its folder's name."""
    for metadata in ("METADATA", "PKG-INFO"):
        try:
            with open(os.path.join(info, metadata), encoding="utf-8", errors="replace") as handle:
                headers = dict(_headers(handle))
        except OSError:
            continue
        if "Name" in headers:
            return headers["Name"], headers.get("Version")
    stem = entry.rsplit(".", 1)[0]
    name, _, version = stem.partition("-")
    return name, version.split("-")[0] or None


def _headers(lines: Iterable[str]) -> list[tuple[str, str]]:
    """The `Key: value` headers at the top of a metadata file (up to its first blank line)."""
    headers = []
    for line in lines:
        if not line.strip():
            break
        key, sep, value = line.partition(":")
        if sep and not key.startswith((" ", "\t")):
            headers.append((key.strip(), value.strip()))
    return headers


def _group(info: str, group: str) -> list[tuple[str, str]]:
    """The `name = value` lines of `[group]` in a distribution's entry_points.txt."""
    try:
        with open(os.path.join(info, "entry_points.txt"), encoding="utf-8") as handle:
            text = handle.read()
    except OSError:
        return []
    pairs, inside = [], False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            inside = stripped[1:-1].strip() == group
        elif inside and "=" in stripped and not stripped.startswith(("#", ";")):
            key, _, value = stripped.partition("=")
            pairs.append((key.strip(), value.strip()))
    return pairs
