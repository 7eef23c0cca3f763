"""Byte-stable files: JSON with sorted keys and rounded floats, weights as state_dicts."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import pickle
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import torch
from torch import nn

from attnbench.errors import DataFileError, StorageError

FLOAT_DIGITS = 6


def _rounded(value: object) -> object:
    if isinstance(value, float):
        return round(value, FLOAT_DIGITS)
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded(item) for item in value]
    return value


PARTIAL = ".partial"  # `.{name}.partial`: a file being written (.dvcignore, .gitignore)
PROBE_BYTES = 1 << 20  # check_writable's trial write: about four weights files of the study


def storage_error(path: Path, exc: OSError) -> StorageError:
    """One line naming the path and the cause (ENOSPC, EROFS, EACCES, ...)."""
    return StorageError(f"{path}: cannot write ({exc.strerror or exc}); nothing earlier was lost")


@contextlib.contextmanager
def replacing(path: str | Path) -> Iterator[Path]:
    """Write `path` whole or not at all: yields a temporary sibling, `.{name}.partial`, and
    renames it over `path` (os.replace, atomic) when the block ends without error. Where a
    stage's outputs are `persist: true` (evaluate's), DVC does not delete them first: a kill or
    a failure mid-stage leaves each previous file as it was, or already replaced whole."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}{PARTIAL}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield temporary
        os.replace(temporary, path)
    except OSError as exc:
        raise storage_error(path, exc) from None
    finally:
        temporary.unlink(missing_ok=True)


def check_writable(directories: Iterable[str | Path]) -> None:
    """Before a stage starts its work (and its MLflow runs): each output folder takes a
    PROBE_BYTES trial file, so a read-only or full folder fails first, in one line."""
    for directory in map(Path, directories):
        probe = directory / f".write-check{PARTIAL}"
        try:
            directory.mkdir(parents=True, exist_ok=True)
            probe.write_bytes(bytes(PROBE_BYTES))
        except OSError as exc:
            raise storage_error(directory, exc) from None
        finally:
            with contextlib.suppress(OSError):
                probe.unlink(missing_ok=True)


def prune(directory: str | Path, keep: Iterable[str | Path]) -> None:
    """Remove the files under `directory` that this run did not write (a task or seed taken out
    of the study): DVC does not clear a `persist: true` output folder itself."""
    directory, kept = Path(directory), {Path(path) for path in keep}
    if not directory.is_dir():
        return
    for path in sorted(directory.rglob("*")):
        if path.is_file() and path not in kept:
            path.unlink()


def write_json(path: str | Path, obj: object) -> None:
    with replacing(path) as temporary:
        temporary.write_text(json.dumps(_rounded(obj), indent=1, sort_keys=True) + "\n")


def read_json(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"{path}: file not found (run `dvc repro` to produce it)")
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DataFileError(f"{path}: corrupt JSON file ({exc})") from None


def md5_bytes(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def weights_bytes(model: nn.Module) -> bytes:
    """The model's state_dict as torch.save writes it.

    torch.save names the archive after the file it writes to, so saving through a
    buffer keeps the bytes independent of the path.
    """
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getvalue()


def weights_md5(model: nn.Module) -> str:
    return md5_bytes(weights_bytes(model))


def write_weights(data: bytes, path: str | Path) -> str:
    """Write weights_bytes (a job's result) to `path`; returns their md5."""
    with replacing(path) as temporary:
        temporary.write_bytes(data)
    return md5_bytes(data)


def save_weights(model: nn.Module, path: str | Path) -> str:
    """Write the model's state_dict (weights_bytes); returns its md5."""
    return write_weights(weights_bytes(model), path)


def read_weights(path: str | Path) -> bytes:
    """A weights file's bytes, or a DataFileError naming it."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"{path}: weights file not found (run the train stage first)")
    return path.read_bytes()


def load_weights_bytes(model: nn.Module, data: bytes, origin: str | Path) -> str:
    """Load weights_bytes into `model`; returns their md5. `origin` names them in errors."""
    try:
        state = torch.load(io.BytesIO(data), weights_only=True)
        model.load_state_dict(state)
    except (RuntimeError, ValueError, zipfile.BadZipFile, pickle.UnpicklingError, EOFError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataFileError(f"{origin}: corrupt or incompatible weights file ({first})") from None
    return md5_bytes(data)


def load_weights(model: nn.Module, path: str | Path) -> str:
    """Load a state_dict written by save_weights into `model`; returns the file's md5."""
    return load_weights_bytes(model, read_weights(path), path)
