"""`make ui` prints, for each experiment, the address that opens its runs table."""

from attnbench import tracking
from attnbench.browse import experiment_links


def test_each_experiment_gets_a_runs_table_link(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    study = tracking.ensure_experiment("attnbench")
    smoke = tracking.ensure_experiment("attnbench-smoke")
    links = experiment_links(tmp_path / "mlflow.db", "http://127.0.0.1:5000")
    assert links == [
        f"attnbench: http://127.0.0.1:5000/#/experiments/{study}?workflowType=machine_learning",
        f"attnbench-smoke: http://127.0.0.1:5000/#/experiments/{smoke}?workflowType=machine_learning",
    ]
    assert experiment_links(tmp_path / "absent.db", "http://x") == []
