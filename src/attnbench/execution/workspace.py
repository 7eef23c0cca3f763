"""Run the real pipeline in a throwaway copy of the repository (used by `make smoke` and
the end-to-end tests), leaving the working tree untouched.

    python -m attnbench.execution.workspace --profile profiles/smoke.yaml [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from attnbench.execution.runtime import OFFLINE_ENV

GIT_IDENTITY = ["-c", "user.name=attnbench", "-c", "user.email=attnbench@localhost"]
# Paths of DVC outputs whose bytes must not depend on where or when the pipeline ran.
OUTPUT_DIRS = ("data", "models", "reports")


def repo_files(repo: Path) -> list[str]:
    """Tracked files plus untracked ones git does not ignore: the working tree as it is."""
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=repo, capture_output=True, text=True, check=True,
    )
    return [name for name in out.stdout.split("\0") if name and (repo / name).is_file()]


def make_workspace(repo: Path, dest: Path, profile: Path | None) -> Path:
    """Copy the working tree to dest, swap in the profile as params.yaml, commit it."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in repo_files(repo):
        if name == "dvc.lock" or name.startswith(("reports/", "pipelines/")):
            continue  # the study's results (the copy makes its own) and the cost pipeline
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo / name, target)
    if profile is not None:
        shutil.copyfile(profile, dest / "params.yaml")
    git = ["git", *GIT_IDENTITY]
    subprocess.run([*git, "init", "-q"], cwd=dest, check=True)
    subprocess.run([*git, "add", "-A"], cwd=dest, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "workspace"], cwd=dest, check=True)
    return dest


def pipeline_env(workspace: Path) -> dict[str, str]:
    """Environment for DVC in the workspace: this interpreter first on PATH (stage commands
    say `python`), offline, and the workspace's own MLflow store."""
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "DVC_ROOT")}
    env.update(OFFLINE_ENV)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def dvc(workspace: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dvc", *args], cwd=workspace, env=pipeline_env(workspace),
        capture_output=True, text=True, check=check,
    )


def start_repro(workspace: Path, log: Path) -> subprocess.Popen:
    """Start `dvc repro` in the workspace, output to `log`, in a process group of its own
    (stop it with stop_group: DVC's stage processes and their workers go too)."""
    with log.open("w") as handle:
        return subprocess.Popen(
            [sys.executable, "-m", "dvc", "repro"], cwd=workspace, env=pipeline_env(workspace),
            stdout=handle, stderr=subprocess.STDOUT, start_new_session=True,
        )


def stop_group(process: subprocess.Popen, grace: float = 30) -> None:
    """SIGTERM a process started in a session of its own (start_repro, local_cluster) and
    everything under it, then SIGKILL what is left after `grace` seconds (a stage's run
    guards mark their runs KILLED meanwhile)."""
    if process.poll() is not None:
        return
    for sig, grace in ((signal.SIGTERM, grace), (signal.SIGKILL, None)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def output_files(workspace: Path) -> dict[str, bytes]:
    """Every DVC output file plus dvc.lock, by relative path."""
    files = {"dvc.lock": (workspace / "dvc.lock").read_bytes()}
    for top in OUTPUT_DIRS:
        for path in sorted((workspace / top).rglob("*")):
            if path.is_file():
                files[path.relative_to(workspace).as_posix()] = path.read_bytes()
    return files


DEMO_NOTE = """
What you just ran: the whole pipeline (DVC stages, Lightning training, MLflow runs, the
report) at smoke size ({profile}): every model trains for 30-40 steps, seconds, so its
accuracies are near 0 and mean nothing; they show that everything runs end to end. The
report printed above is also the run `report` of the experiment attnbench-smoke. Next:

    make ui              # MLflow's UI on http://127.0.0.1:5000 (make ui PORT=5001 for another port)

The real study: make repro (about 80 minutes on 2 cores).
"""


def checkout_git_environment(repo: Path, profile: Path) -> dict[str, str]:
    """The user's checkout as the runs' git state (tracking.GIT_ENV): its commit, and what
    differed from it, the profile that replaced params.yaml included; never the commit of
    the throwaway copy, which is gone after the run."""
    from attnbench.tracking import runs as tracking

    state = tracking.git_state(repo)
    changed = [name for name in state[tracking.TAG_GIT_CHANGES].split(",") if name not in ("none", "unknown")]
    changed.append(f"params.yaml replaced by {profile}")
    return {tracking.GIT_ENV[tracking.TAG_GIT_COMMIT]: state[tracking.TAG_GIT_COMMIT],
            tracking.GIT_ENV[tracking.TAG_GIT_CHANGES]: ",".join(changed)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--profile", type=Path, default=Path("profiles/smoke.yaml"))
    parser.add_argument("--keep", type=Path, help="run in this directory and keep it")
    parser.add_argument("--record-here", action="store_true",
                        help="record the runs in this checkout's MLflow store (mlflow.db, "
                             "mlartifacts/), under the profile's own experiment (make demo)")
    args = parser.parse_args()
    repo = Path.cwd()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="attnbench-smoke-") as tmp:
        workspace = make_workspace(repo, args.keep or Path(tmp) / "repo", args.profile)
        env = pipeline_env(workspace)
        if args.record_here:  # runtime.project_root(): where the store is
            env["DVC_ROOT"] = str(repo.resolve())
            env.update(checkout_git_environment(repo, args.profile))
        print(f"smoke: running `dvc repro` with {args.profile} in {workspace}", flush=True)
        result = subprocess.run([sys.executable, "-m", "dvc", "repro"], cwd=workspace, env=env)
        if result.returncode != 0:
            sys.exit(f"smoke: dvc repro failed (exit {result.returncode})")
        status = dvc(workspace, "status")
        print(status.stdout.strip())
        print((workspace / "reports" / "report.md").read_text().split("## Accuracy")[0])
    print(f"smoke: passed in {time.perf_counter() - started:.0f} s")
    if args.record_here:
        print(DEMO_NOTE.format(profile=args.profile), flush=True)


if __name__ == "__main__":
    main()
