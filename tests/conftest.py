"""Shared fixtures: a tiny study configuration and a private MLflow store per test."""

from __future__ import annotations

from pathlib import Path

import attnbench  # noqa: F401, I001 - first: pins the CPU kernels before torch loads
import pytest
import torch
import yaml

from attnbench.platform import numerics
from attnbench.config import Params, parse_params

# One intra-op thread, as the stages use: same numerics everywhere, and no spinning
# threads fighting other processes for the two cores. Recurrent layers skip oneDNN, as in
# every process that builds a model (numerics.configure_torch).
torch.set_num_threads(1)
numerics.configure_torch()

REPO = Path(__file__).resolve().parents[1]
SMOKE_PROFILE = REPO / "profiles" / "smoke.yaml"


def stage_body(dvc_file: str, name: str, text: str | None = None) -> dict:
    """A stage of a dvc.yaml (its `do:` body for a foreach stage), from the file or `text`."""
    body = yaml.safe_load(text or (REPO / dvc_file).read_text())["stages"][name]
    return body.get("do", body)


def smoke_raw() -> dict:
    return yaml.safe_load(SMOKE_PROFILE.read_text())


@pytest.fixture
def raw_params() -> dict:
    """The smoke profile as a plain mapping, for tests that change a value."""
    return smoke_raw()


@pytest.fixture
def params() -> Params:
    return parse_params(smoke_raw())


@pytest.fixture
def mlflow_store(tmp_path, monkeypatch) -> str:
    """A fresh SQLite tracking store for this test only."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    return uri


def assert_padding_invariant(model, batch) -> None:
    """Each sequence alone must get the logits it gets inside the right-padded batch."""
    from attnbench.data.tasks import PAD

    with torch.no_grad():
        batched = model(batch.src, batch.tgt_in).logits
        for i in range(len(batch)):
            n = int((batch.src[i] != PAD).sum())
            t = int((batch.tgt_out[i] != PAD).sum())
            alone = model(batch.src[i : i + 1, :n], batch.tgt_in[i : i + 1, :t]).logits
            torch.testing.assert_close(batched[i, :t], alone[0], atol=1e-5, rtol=1e-4)


WORKERS = (1, 2)  # per workspace
REPRO_BOUND_S = 3600


@pytest.fixture(scope="session")
def workspaces(tmp_path_factory):
    """Two complete smoke runs of the real `dvc repro`, in throwaway copies of the repository
    at different paths, side by side: (serial, parallel) workspace paths (runtime.workers
    1 and 2)."""
    from attnbench.execution.workspace import make_workspace, start_repro, stop_group

    root = tmp_path_factory.mktemp("pipeline")
    paths = [root / "one" / "repo", root / "two" / "nested" / "attnbench"]
    procs = []
    try:
        for path, workers in zip(paths, WORKERS, strict=True):
            profile = root / f"smoke-workers-{workers}.yaml"
            text = SMOKE_PROFILE.read_text()
            assert "  threads: 1\n" in text
            profile.write_text(text.replace("  threads: 1\n", f"  threads: 1\n  workers: {workers}\n"))
            make_workspace(REPO, path, profile)
            procs.append(start_repro(path, path.parent / "repro.log"))
        for path, proc in zip(paths, procs):
            # A bound only a hang exceeds (about 4 minutes on a quiet 2-core machine, 19 on a
            # busy one were seen), not a speed requirement.
            if proc.wait(timeout=REPRO_BOUND_S) != 0:
                log = (path.parent / "repro.log").read_text()
                pytest.fail(f"dvc repro failed in {path}:\n{log[-4000:]}")
    finally:
        for proc in procs:  # on failure, timeout or Ctrl-C: no dvc repro left behind
            stop_group(proc)
    return paths


def with_outcomes(rows: list[dict]) -> list[dict]:
    """Report rows with `correct` (evaluate.py's per-sequence exact match) made from their
    seq_acc: the first round(seq_acc * n) sequences right, the rest wrong."""
    out = []
    for row in rows:
        right = round(row["seq_acc"] * row["n"])
        out.append({**row, "correct": "1" * right + "0" * (row["n"] - right)})
    return out


def curves_of(rows: list[dict]):
    """report.stats.curves_from_rows of rows given per-sequence outcomes by with_outcomes."""
    from attnbench.report.stats import curves_from_rows

    return curves_from_rows(with_outcomes(rows))


def fingerprint(ws) -> dict[str, str]:
    """md5 of every file under data/, models/, reports/ and of mlflow.db."""
    import hashlib

    files = [p for top in ("data", "models", "reports") for p in (ws / top).rglob("*") if p.is_file()]
    files.append(ws / "mlflow.db")
    return {p.relative_to(ws).as_posix(): hashlib.md5(p.read_bytes()).hexdigest() for p in files}
