"""Stage `report`: aggregate every evaluation into the CSV, figures, metrics and report.md,
and log the report to MLflow as the study's report run."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from attnbench import paths
from attnbench.config import Params, TransformerVariant, load_params
from attnbench.data.tasks import G2P
from attnbench.report import figures, heatmaps, markdown
from attnbench.report.g2p import length_shares
from attnbench.report.stats import CSV_COLUMNS, OUTCOME_COLUMNS, Curve, curves_from_rows
from attnbench.stages import base_parser, stage_entry
from attnbench.tracking import runs as tracking
from attnbench.tracking.artifacts import check_writable, read_json, replacing, write_json

# each test sequence's exact match per seed and length (here, not in paths.py: every stage
# depends on paths.py, so a new path there would retrain the study)
OUTCOMES_CSV = paths.REPORTS / "outcomes_by_sequence.csv"


def read_evaluations(params: Params) -> dict[tuple[str, str], dict]:
    """Every (task, variant)'s eval JSON, read once."""
    return {(task, variant): read_json(paths.evaluation(task, variant))
            for task in params.study.tasks for variant in params.study.variants}


def collect_rows(params: Params, evaluations: dict[tuple[str, str], dict]) -> list[dict]:
    rows = []
    for (task, variant), evaluation in evaluations.items():
        rows += [
            {"task": task, "variant": variant, **{k: r[k] for k in CSV_COLUMNS[2:]}, "correct": r["correct"]}
            for r in evaluation["results"]
            if r["seed"] in params.study.seeds
        ]
    return rows


def write_csv(path: Path, rows: list[dict]) -> None:
    with replacing(path) as temporary, temporary.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for r in rows:
            writer.writerow([r["task"], r["variant"], r["seed"], r["length"], r["split"], r["n"],
                             f"{r['seq_acc']:.4f}", f"{r['tok_acc']:.4f}", f"{r['per']:.4f}"])


def write_outcomes(path: Path, rows: list[dict]) -> None:
    """Each test sequence's exact match (0/1 in test-file order, one string per row): what a
    reader needs to redo every exact-match interval and test of the report."""
    with replacing(path) as temporary, temporary.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(OUTCOME_COLUMNS)
        for r in rows:
            writer.writerow([r[column] for column in OUTCOME_COLUMNS])


def g2p_length_weights(params: Params) -> dict[int, float] | None:
    """The g2p test dictionary's share of each test length (None without the g2p task)."""
    if G2P not in params.study.tasks:
        return None
    from attnbench.data import g2p

    data = params.for_task(G2P).data
    return length_shares(g2p.read_lexicon(), list(range(data.train_lengths.min, data.test_max_length + 1)))


def write_plot_data(curves: dict[tuple[str, str], Curve], params: Params) -> None:
    """reports/plots/{task}.csv: length, variant, mean seq_acc over seeds (for dvc plots)."""
    for task in params.study.tasks:
        with replacing(paths.plot_data(task)) as temporary, temporary.open("w", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(["length", "variant", "seq_acc"])
            for variant in params.study.variants:
                curve = curves[(task, variant)]
                for n in curve.lengths:
                    writer.writerow([n, variant, f"{curve.at(n).mean:.4f}"])


def metrics(curves: dict[tuple[str, str], Curve], params: Params) -> dict:
    """Summary numbers for `dvc metrics diff`."""
    return {
        task: {
            variant: {
                "seq_acc_in_distribution": curves[(task, variant)].mean_over("in_distribution"),
                "seq_acc_extrapolation": curves[(task, variant)].mean_over("extrapolation"),
            }
            for variant in params.study.variants
        }
        for task in params.study.tasks
    }


def log_report(params: Params, files: list[Path]) -> None:
    tracking.ensure_experiment(params.tracking.experiment)
    client, experiment_id = tracking.connect(params.tracking.experiment)
    with tracking.store_errors("starting run report"):
        run_id = tracking.create_run(client, experiment_id, "report", tracking.base_tags("report"))
    with tracking.run_guard(client, run_id, "report"):
        for path in files:
            folder = path.parent.relative_to(paths.REPORTS).as_posix()
            client.log_artifact(run_id, str(path), artifact_path=None if folder == "." else folder)


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    evaluations = read_evaluations(params)
    rows = collect_rows(params, evaluations)
    check_writable([paths.REPORTS, paths.FIGURES, paths.PLOTS])
    write_csv(paths.ACCURACY_CSV, rows)
    write_outcomes(OUTCOMES_CSV, rows)
    curves = curves_from_rows(rows)
    write_plot_data(curves, params)
    write_json(paths.METRICS, metrics(curves, params))

    tasks, variants = params.study.tasks, params.study.variants
    longest_trained = {task: params.for_task(task).data.train_lengths.max for task in tasks}
    groups = figures.variant_groups({variant: params.variants[variant] for variant in variants})
    figures.accuracy_by_length(curves, tasks, groups, longest_trained, paths.ACCURACY_FIGURE)
    trained = {(t, v): read_json(paths.train_curves(t, v)) for t in tasks for v in variants}
    train_curves = {key: value["curves"] for key, value in trained.items()}
    parameters = {key: value["parameters"] for key, value in trained.items()}
    figures.training_curves(train_curves, tasks, groups, paths.FIGURES / "training_curves.png")
    heatmap_tasks, extrapolation_tasks = [], []
    for task in tasks:
        examples = {}
        for variant in variants:
            example = evaluations[(task, variant)]["attention_example"]
            if example is not None:
                examples[variant] = example
        if examples:
            heatmaps.attention_heatmaps(examples, task, paths.FIGURES / f"attention_{task}.png")
            heatmap_tasks.append(task)
        beyond = {variant: example for variant in variants
                  if isinstance(params.variants[variant], TransformerVariant)
                  and (example := evaluations[(task, variant)].get("extrapolation_example")) is not None}
        if beyond:  # one panel per position scheme (and window) of the Transformer
            heatmaps.attention_heatmaps(beyond, task, paths.FIGURES / f"extrapolation_{task}.png")
            extrapolation_tasks.append(task)
    text = markdown.render(curves, params, heatmap_tasks, parameters, extrapolation_tasks,
                           runs=train_curves, length_weights=g2p_length_weights(params))
    with replacing(paths.REPORT_MD) as temporary:
        temporary.write_text(text)
    log_report(params, [paths.REPORT_MD, paths.ACCURACY_CSV, OUTCOMES_CSV, *sorted(paths.FIGURES.glob("*.png"))])
    print(f"report: {len(rows)} rows -> {paths.REPORT_MD}")


parser = base_parser(__doc__)
run = stage_entry(main, parser)

if __name__ == "__main__":
    run()
