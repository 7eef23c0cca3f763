"""Stage `evaluate@{variant}`: greedy free-running decoding of the test set of every task
(or of one --task) with every seed's weights of one variant.

Writes reports/eval/{variant}/{task}.json (accuracy per seed and length, plus the
attention weights of one fixed test example) and logs the accuracy-vs-length curve into
the MLflow run that trained each weights file (metric step = sequence length).
"""

from __future__ import annotations

import argparse
import functools
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import torch
from torch import nn

from attnbench import paths
from attnbench.config import Params, load_params
from attnbench.data.files import check_ids, collate, read_examples, read_vocabulary
from attnbench.data.tasks import Example, Vocabulary
from attnbench.execution import executor, runtime
from attnbench.models import build_for_task
from attnbench.stages import base_parser, check_in_study, stage_entry
from attnbench.tracking import runs as tracking
from attnbench.tracking.artifacts import check_writable, load_weights_bytes, prune, read_weights, write_json
from attnbench.training.decode import greedy_decode, score


def accuracy_by_length(model: nn.Module, examples: list[Example]) -> list[dict]:
    """One row per test length: n, exact-match (seq_acc) and per-token (tok_acc) accuracy,
    the error rate over symbols, PER = edit distances / reference symbols (no EOS), and
    `correct`: each sequence's exact match as '1'/'0', in test-file order (the report's
    bootstrap resamples these)."""
    by_length: dict[int, list[Example]] = defaultdict(list)
    for ex in examples:
        by_length[ex.length].append(ex)
    rows = []
    model.eval()
    limit = decode_limit(examples)
    for length in sorted(by_length):
        group = by_length[length]
        batch = collate(group)  # one length per batch: no source padding
        decoded = greedy_decode(model, batch.src, max_len=limit)
        scores = score(decoded.tokens, batch.tgt_out)
        rows.append({
            "length": length,
            "split": group[0].split,
            "n": len(group),
            "seq_correct": int(scores.seq_correct.sum()),
            "correct": "".join("1" if hit else "0" for hit in scores.seq_correct.tolist()),
            "tok_correct": int(scores.tok_correct.sum()),
            "tok_total": int(scores.tok_total.sum()),
            "edits": int(scores.edits.sum()),
            "ref_total": int(scores.ref_total.sum()),
        })
    for row in rows:
        row["seq_acc"] = row["seq_correct"] / row["n"]
        row["tok_acc"] = row["tok_correct"] / row["tok_total"]
        row["per"] = row["edits"] / row["ref_total"]
    return rows


def decode_limit(examples: list[Example]) -> int:
    """How many steps greedy decoding may take: the longest target of the whole test set,
    the same for every example, so no output is cut at its own reference's length (which
    would hide the insertions of a model that runs on, and hint at the length)."""
    return max(len(ex.target) for ex in examples)


def heatmap_example(examples: list[Example], longest_trained: int) -> Example:
    """The fixed example whose attention the report draws: the first test example of the
    longest training length."""
    return next(ex for ex in examples if ex.length == longest_trained)


def attention_of(model: nn.Module, example: Example, vocab: Vocabulary, limit: int) -> dict | None:
    """The decoded example's attention weights, with its ids and their symbols."""
    batch = collate([example])
    decoded = greedy_decode(model, batch.src, max_len=limit)
    if decoded.weights is None:
        return None
    steps = decoded.weights.size(1)
    prediction = decoded.tokens[0, :steps].tolist()
    return {
        "source": list(example.source),
        "target": list(example.target),
        "prediction": prediction,
        "source_symbols": vocab.source_symbols(example.source),
        "target_symbols": vocab.target_symbols(example.target),
        "prediction_symbols": vocab.target_symbols(prediction),
        "weights": decoded.weights[0].tolist(),  # (T, S)
    }


LONGEST_TRAINED_METRIC = "test/seq_acc_longest_trained"  # exact match at the longest training length


def log_to_mlflow(client, experiment_id: str, params: Params, task: str, variant: str,
                  seed: int, md5: str, rows: list[dict]) -> str:
    """Log into the run that trained these weights; recreate it if the store lost it
    (for example when DVC restored the weights from its run-cache). Returns its id."""
    tags = tracking.run_tags(task, variant, seed, **{tracking.TAG_WEIGHTS_MD5: md5})
    run_id = tracking.find_run(client, experiment_id, tags)
    created = run_id is None
    if created:
        run_id = tracking.create_run(
            client, experiment_id, tracking.run_name(task, variant, seed),
            tracking.base_tags("train", **tags, **{tracking.TAG_RESTORED: "true"}),
        )
        tracking.log_params(client, run_id, tracking.run_params(params, task, variant, seed))
    where = tracking.worker_tags()
    client.set_tag(run_id, tracking.TAG_EVALUATED_ON,
                   f"{where[tracking.TAG_WORKER]} on {where[tracking.TAG_HOST]}")
    now = int(time.time() * 1000)
    for metric in ("seq_acc", "tok_acc", "per"):
        tracking.log_metric_series(
            client, run_id, f"test/{metric}", [(r["length"], r[metric]) for r in rows], now
        )
        for split in ("in_distribution", "extrapolation"):
            chosen = [r for r in rows if r["split"] == split]
            if chosen:
                mean = sum(r[metric] for r in chosen) / len(chosen)
                tracking.log_metric_series(client, run_id, f"test/{metric}_{split}", [(0, mean)], now)
    longest = [r for r in rows if r["length"] == params.data.train_lengths.max]
    if longest:  # the runs view's column: the hardest length the run was trained on
        tracking.log_metric_series(client, run_id, LONGEST_TRAINED_METRIC, [(0, longest[0]["seq_acc"])], now)
    if created:
        client.set_terminated(run_id, "FINISHED")
    return run_id


def log_heatmap(client, run_id: str, title: str, attention: dict) -> None:
    """The run's attention heatmap of the fixed example, as an MLflow artifact."""
    from attnbench.report.heatmaps import single_heatmap

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "attention.png"
        single_heatmap(attention, title, path)
        client.log_artifact(run_id, str(path), artifact_path="heatmaps")


def extrapolation_example(examples: list[Example]) -> Example | None:
    """The fixed example of the report's extrapolation heatmaps: the first test example of
    the longest test length, if that length was never trained on."""
    longest = max(ex.length for ex in examples)
    return next((ex for ex in examples if ex.length == longest and ex.split == "extrapolation"), None)


def evaluate_seed(params: Params, task: str, variant: str, seed: int, examples: list[Example],
                  vocab: Vocabulary, weights: bytes) -> tuple[list[dict], dict | None, dict | None]:
    """Decode the test set with one seed's weights (the bytes of its weights file) and log
    it to that seed's MLflow run; returns the rows per length and the attention of the two
    fixed examples, at the longest training length and the longest test length (None
    without attention). Runs on a worker (executor.run_jobs), reading nothing but its
    arguments. `params` are the task's."""
    started = time.perf_counter()
    client, experiment_id = tracking.connect(params.tracking.experiment)
    runtime.seed_all(seed)
    model = build_for_task(params.variants[variant], params.model, vocab)
    md5 = load_weights_bytes(model, weights, paths.weights_file(task, variant, seed))
    rows = accuracy_by_length(model, examples)
    name = tracking.run_name(task, variant, seed)
    with tracking.store_errors(f"logging the evaluation of {name}"):
        run_id = log_to_mlflow(client, experiment_id, params, task, variant, seed, md5, rows)
    attention = attention_of(model, heatmap_example(examples, params.data.train_lengths.max), vocab,
                             decode_limit(examples))
    if attention is not None:
        with tracking.store_errors(f"logging the heatmap of {name}"):
            log_heatmap(client, run_id, name, attention)
    beyond = extrapolation_example(examples)
    extrapolation = None if beyond is None else attention_of(model, beyond, vocab, decode_limit(examples))
    mean = sum(r["seq_acc"] for r in rows) / len(rows)
    print(f"evaluate {task}/{variant}/{seed}: mean seq_acc over lengths {mean:.3f} "
          f"({len(examples)} sequences in {time.perf_counter() - started:.1f} s)", flush=True)
    return rows, attention, extrapolation


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    check_in_study(params, args)
    runtime.setup_process(params.runtime.threads)
    tasks = [args.task] if args.task else list(params.study.tasks)
    examples = {task: read_examples(paths.split_file(paths.data_dir(task), "test")) for task in tasks}
    vocabs = {task: read_vocabulary(paths.data_dir(task)) for task in tasks}
    for task in tasks:
        check_ids(paths.split_file(paths.data_dir(task), "test"), examples[task], vocabs[task])
    jobs = [(params.for_task(task), task, args.variant, seed, examples[task], vocabs[task],
             read_weights(paths.weights_file(task, args.variant, seed)))
            for task in tasks for seed in params.study.seeds]
    check_writable([paths.variant_evaluations(args.variant)])
    evaluated = executor.run_jobs(
        evaluate_seed, jobs, params, args.variant,
        first=functools.partial(tracking.ensure_experiment, params.tracking.experiment))
    for task in tasks:
        results, example_attention, beyond_attention = [], None, None
        for (_, job_task, _, seed, *_), (rows, attention, beyond) in zip(jobs, evaluated, strict=True):
            if job_task != task:
                continue
            results += [{"seed": seed, **row} for row in rows]
            if attention is not None and example_attention is None:
                example_attention = {**attention, "seed": seed}
            if beyond is not None and beyond_attention is None:
                beyond_attention = {**beyond, "seed": seed}
        write_json(
            paths.evaluation(task, args.variant),
            {"task": task, "variant": args.variant, "results": results,
             "attention_example": example_attention, "extrapolation_example": beyond_attention},
        )
    if args.task is None:  # the whole stage: what the study no longer holds goes
        prune(paths.variant_evaluations(args.variant), [paths.evaluation(task, args.variant) for task in tasks])


parser = base_parser(__doc__, per_variant=True)
run = stage_entry(main, parser)

if __name__ == "__main__":
    run()
