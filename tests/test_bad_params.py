"""Nothing lost to a typo: bad params.yaml values, run through the real `dvc repro` on a
workspace that already holds a whole smoke study, stop in one line naming the cause, exit
non-zero, and leave every output and the MLflow store byte for byte as they were.

DVC deletes a stage's outputs before running it; the `validate` stage, which every stage
depends on, runs first and fails first (stages/validate.py).
"""

from __future__ import annotations

import time

import pytest
import yaml

from attnbench.execution.workspace import dvc
from conftest import fingerprint

def setting(path: str, value):
    def change(raw: dict) -> None:
        *parents, key = path.split(".")
        node = raw
        for part in parents:
            node = node[part]
        node[key] = value
    return change


def removing(path: str):
    def change(raw: dict) -> None:
        *parents, key = path.split(".")
        node = raw
        for part in parents:
            node = node[part]
        del node[key]
    return change


# what to change -> what attnbench's one error line must name
MUTATIONS = {
    "typo in a key": (setting("train.lrr", 0.1), "train.lrr"),
    "typo in a section": (setting("trian", {"lr": 0.1}), "trian"),
    "bool as int": (setting("train.max_steps", True), "train.max_steps"),
    "float as int": (setting("train.max_steps", 2.5), "train.max_steps"),
    "string as int": (setting("train.max_steps", "100"), "train.max_steps"),
    "zero steps": (setting("train.max_steps", 0), "train.max_steps"),
    "negative steps": (setting("train.max_steps", -5), "train.max_steps"),
    "batch above the training set": (setting("train.batch_size", 300), "train.batch_size"),
    "string as float": (setting("train.lr", "fast"), "train.lr"),
    "zero learning rate": (setting("train.lr", 0), "train.lr"),
    "unknown optimiser": (setting("train.optimizer", "adamw"), "train.optimizer"),
    "negative clipping": (setting("train.grad_clip", -1.0), "train.grad_clip"),
    "missing key": (removing("train.val_every_n_steps"), "train.val_every_n_steps"),
    "one-symbol vocabulary": (setting("data.vocab_size", 1), "data.vocab_size"),
    "reversed length range": (setting("data.train_lengths", {"min": 6, "max": 3}), "data.train_lengths"),
    "test shorter than training": (setting("data.test_max_length", 2), "test_max_length"),
    "no training examples": (setting("data.n_train", 0), "data.n_train"),
    "unknown task": (setting("study.tasks", ["copy", "nosuch"]), "study.tasks"),
    "no tasks": (setting("study.tasks", []), "study.tasks"),
    "undefined variant": (setting("study.variants", ["lstm", "ghost"]), "ghost"),
    "repeated seed": (setting("study.seeds", [0, 0]), "study.seeds"),
    "negative seed": (setting("study.seeds", [-1]), "study.seeds"),
    "zero width": (setting("model.hidden_dim", 0), "model.hidden_dim"),
    "fractional width": (setting("model.embed_dim", 1.5), "model.embed_dim"),
    "unknown attention": (setting("variants.bahdanau.attention", "addditive"), "variants.bahdanau.attention"),
    "unknown cell": (setting("variants.bahdanau.cell", "gruu"), "variants.bahdanau.cell"),
    "heads not dividing the width": (setting("variants.transformer_local.heads", 3), "heads"),
    "local attention without window": (removing("variants.local_p.window"), "variants.local_p"),
    "baseline decay above 1": (setting("variants.hard.reinforce", {"baseline_decay": 1.5}),
                               "variants.hard.reinforce.baseline_decay"),
    "zero threads": (setting("runtime.threads", 0), "runtime.threads"),
    "zero workers": (setting("runtime.workers", 0), "runtime.workers"),
    "empty experiment name": (setting("tracking.experiment", ""), "tracking.experiment"),
    "one cost length": (setting("cost", {"lengths": [16]}), "cost.lengths"),
    "a model no memory holds": (setting("model.hidden_dim", 10**9), "GiB of memory"),
    "a test set no memory holds": (setting("data.n_test_per_length", 10**9), "GiB"),
    "steps no one waits for": (setting("train.max_steps", 10**12), "days"),
    # each of these once failed in a later stage, after DVC had deleted outputs (issue 23)
    "infinite learning rate": (setting("train.lr", float("inf")), "train.lr"),
    "a seed above numpy's range": (setting("study.seeds", [0, 2**64]), "study.seeds"),
    "a GPU this machine lacks": (setting("runtime.accelerator", "gpu"), "runtime.accelerator"),
    "more test sequences than the vocabulary makes": (
        lambda raw: (setting("data.vocab_size", 2)(raw), setting("data.train_lengths", {"min": 3, "max": 3})(raw),
                     setting("data.test_max_length", 3)(raw), setting("data.n_test_per_length", 50)(raw)),
        "copy"),
}

# params.yaml texts that once got past the reader: (text replacing the file, what the line names)
TEXTS = {
    "a learning rate beyond float range": (lambda text: text.replace("  lr: 1.0e-2\n", "  lr: 1.0e400\n", 1), "train.lr"),
    "a duplicate section": (lambda text: text + "train:\n  lr: 0.1\n", "params.yaml"),  # DVC's reader refuses first
    "an alias bomb": (lambda text: text + "bomb: &a [x, x, x, x, x, x, x, x, x]\nb2: &b [*a, *a, *a, *a, *a, *a, *a]\n"
                      "b3: [*b, *b, *b, *b, *b, *b, *b, *b]\n", "alias"),
}


@pytest.fixture(scope="module")
def study_workspace(workspaces):
    ws = workspaces[1]
    return ws, fingerprint(ws)


def repro_with(ws, content: bytes):
    """`dvc repro` with params.yaml replaced by `content`, restored on every exit path:
    (the finished process, seconds it took)."""
    params_file = ws / "params.yaml"
    original = params_file.read_bytes()
    try:
        params_file.write_bytes(content)
        started = time.perf_counter()
        result = dvc(ws, "repro", check=False)
        return result, time.perf_counter() - started
    finally:
        params_file.write_bytes(original)


@pytest.mark.parametrize("case", list(MUTATIONS))
def test_a_bad_value_costs_nothing(study_workspace, case):
    ws, before = study_workspace
    change, names = MUTATIONS[case]
    raw = yaml.safe_load((ws / "params.yaml").read_bytes())
    change(raw)
    result, seconds = repro_with(ws, yaml.safe_dump(raw, sort_keys=False).encode())
    errors = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("error: ")]
    assert result.returncode != 0
    assert len(errors) == 1, result.stdout + result.stderr
    assert names in errors[0]
    assert fingerprint(ws) == before, "an output or the MLflow store changed"
    print(f"{case}: {seconds:.1f} s: {errors[0]}")


@pytest.mark.parametrize("content", [b"\xff\xfe not UTF-8\n", b"", b"train: [unclosed\n", b"- 1\n- 2\n"],
                         ids=["not UTF-8", "empty", "not YAML", "a list"])
def test_an_unreadable_params_file_costs_nothing(study_workspace, content):
    """DVC itself reads params.yaml (dvc.yaml's matrix takes study.tasks from it) before
    running any stage, and stops with one error of its own. (Each stage command says the
    same in attnbench's words: tests/test_config.py.)"""
    ws, before = study_workspace
    result, _ = repro_with(ws, content)
    assert result.returncode != 0
    errors = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 1, result.stdout + result.stderr
    assert fingerprint(ws) == before


@pytest.mark.parametrize("case", list(TEXTS))
def test_a_bad_params_text_costs_nothing(study_workspace, case):
    """Texts YAML itself accepts: DVC reads the file too (its matrix), and whichever of DVC or
    attnbench refuses first says so in one line, with nothing changed."""
    ws, before = study_workspace
    edit, names = TEXTS[case]
    original = (ws / "params.yaml").read_bytes()
    changed = edit(original.decode()).encode()
    assert changed != original
    result, seconds = repro_with(ws, changed)
    lines = result.stdout + result.stderr
    # attnbench's one line; where DVC refuses first, its own one line
    errors = ([line for line in lines.splitlines() if line.startswith("error: ")]
              or [line for line in lines.splitlines() if line.startswith("ERROR:")])
    assert result.returncode != 0
    assert len(errors) == 1, lines
    assert names in errors[0], errors[0]
    assert "Traceback" not in lines
    assert fingerprint(ws) == before, "an output or the MLflow store changed"
    print(f"{case}: {seconds:.1f} s: {errors[0]}")
