"""attnbench: a reproducible study of attention mechanisms (accuracy vs sequence length).

Importing the package switches off DVC analytics and MLflow telemetry for this process
before any MLflow or DVC code can run (see runtime.offline_defaults).
"""

from attnbench.runtime import offline_defaults

offline_defaults()
