"""attnbench: a reproducible study of attention mechanisms (accuracy vs sequence length).

Importing the package, before anything else in the process can load torch, MLflow or DVC:
- switches off DVC analytics and MLflow telemetry (runtime.offline_defaults);
- pins the CPU kernels MKL and ATen dispatch to, so every x86-64 CPU with AVX2 computes
  the same bytes, and says once if this platform is outside that promise (numerics).
"""

from attnbench.platform.numerics import pin_environment, warn_if_outside_promise
from attnbench.execution.runtime import offline_defaults

offline_defaults()
pin_environment()
warn_if_outside_promise()
