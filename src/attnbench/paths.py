"""Every file the pipeline reads or writes, relative to the repository root (where DVC runs
each stage). The stages take their paths from here; dvc.yaml names the same ones, and
tests/test_paths.py checks that the two agree."""

from __future__ import annotations

from pathlib import Path

DATA = Path("data")
PARAMS_CHECKED = DATA / "params.checked"  # stage validate's marker, which every stage depends on
MODELS = Path("models")
REPORTS = Path("reports")
FIGURES = REPORTS / "figures"
PLOTS = REPORTS / "plots"  # one CSV per task for `dvc plots`
ACCURACY_CSV = REPORTS / "accuracy_by_length.csv"
METRICS = REPORTS / "metrics.json"
REPORT_MD = REPORTS / "report.md"
ACCURACY_FIGURE = FIGURES / "accuracy_by_length.png"
COST = REPORTS / "cost"  # the machine-dependent cost pipeline's outputs
COST_JSON = COST / "cost.json"
COST_MD = COST / "cost.md"
COST_FIGURE = COST / "cost_vs_length.png"
CALIBRATION = REPORTS / "calibration"  # pipelines/calibration: each family's learning-rate schedule
CALIBRATION_JSON = CALIBRATION / "calibration.json"
CALIBRATION_MD = CALIBRATION / "calibration.md"
SPLITS = ("train", "val", "test")


def data_dir(task: str) -> Path:
    return DATA / task


def split_file(folder: str | Path, split: str) -> Path:
    """One split of a task's data: data/{task}/{split}.tsv (or in another folder)."""
    return Path(folder) / f"{split}.tsv"


# A variant's files sit in one folder per variant, so that each per-variant stage (every
# task and seed of one variant) owns whole folders: models/{variant}, reports/train/{variant},
# reports/eval/{variant}.


def variant_models(variant: str) -> Path:
    """Every weights file of one variant (stage train@{variant}'s output)."""
    return MODELS / variant


def model_dir(task: str, variant: str) -> Path:
    return variant_models(variant) / task


def weights_file(task: str, variant: str, seed: int) -> Path:
    return model_dir(task, variant) / f"seed{seed}.pt"


def variant_train_curves(variant: str) -> Path:
    return REPORTS / "train" / variant


def train_curves(task: str, variant: str) -> Path:
    """The training stage's loss curves and parameter count for one task."""
    return variant_train_curves(variant) / f"{task}.json"


def variant_evaluations(variant: str) -> Path:
    return REPORTS / "eval" / variant


def evaluation(task: str, variant: str) -> Path:
    """The evaluate stage's accuracy per seed and length, and its attention example."""
    return variant_evaluations(variant) / f"{task}.json"


def plot_data(task: str) -> Path:
    return PLOTS / f"{task}.csv"
