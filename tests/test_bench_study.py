"""The benchmark's reading of a `make repro` log (section 6: import share of the study)."""

from attnbench.bench.study import recorded_study

LOG = """\
Stage 'prepare@copy' didn't change, skipping
Running stage 'prepare@reverse':
> python -m attnbench.stages prepare --task reverse
Running stage 'train@rnn':
> python -m attnbench.stages train --variant rnn
Running stage 'train@lstm':
Running stage 'evaluate@rnn':
Running stage 'report':
Updating lock file 'dvc.lock'
study wall seconds 4667
"""


def test_the_log_names_the_stages_that_ran_and_the_wall_time(tmp_path):
    log = tmp_path / "repro.log"
    log.write_text(LOG)
    ran, wall = recorded_study(log)
    assert dict(ran) == {"prepare": 1, "train": 2, "evaluate": 1, "report": 1}  # skipped: not counted
    assert wall == 4667


def test_an_unfinished_or_missing_study_is_no_record(tmp_path):
    log = tmp_path / "repro.log"
    log.write_text(LOG.replace("study wall seconds 4667\n", ""))  # dvc repro failed or was stopped
    assert recorded_study(log) is None
    assert recorded_study(tmp_path / "absent.log") is None
