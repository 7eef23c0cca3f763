"""Execution: process set-up, a stage's jobs on forked workers or Dask, progress, workspaces."""
