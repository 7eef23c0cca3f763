#!/usr/bin/env bash
# The platform canary on an emulated Intel CPU: qemu-user's Haswell model (GenuineIntel, AVX2
# and FMA, no AVX-512) makes MKL and ATen take that processor's dispatch, so a pass shows the
# pinned kernels give the committed bytes on another vendor's and another ISA level's paths.
#   tools/emulated-canary.sh [CPU_MODEL] [canary arguments, e.g. --variants lstm hard]
# Installs Debian's qemu-user if it is missing. Exit status: the canary's (2: no emulator).
set -u
cd "$(dirname "$0")/.."
cpu=${1:-Haswell}; [ $# -gt 0 ] && shift
[ -x .venv/bin/python ] || { echo "error: no .venv: run make install first" >&2; exit 2; }
if ! command -v qemu-x86_64 >/dev/null; then
  echo "installing qemu-user (Debian package) ..." >&2
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user; } >/dev/null 2>&1 \
    || { echo "error: qemu-user is not installed and could not be installed" >&2; exit 2; }
fi
canary() {
  echo "platform canary under qemu-x86_64 -cpu $cpu (emulated, so slow: about 20 s a variant) ..." >&2
  # qemu's TCG lacks some of the model's features and says so on every start: not our message
  qemu-x86_64 -cpu "$cpu" .venv/bin/python -m attnbench.platform.canary "$@" \
    2> >(grep -v "TCG doesn't support requested feature" >&2)
}
canary "$@"; status=$?
# qemu-user itself crashes now and then (seen once in five runs here: "uncaught target
# signal 11"), which says nothing about the bytes: one more run then, never on the canary's
# own verdict (exit 1, a mismatch)
if [ "$status" -ge 128 ]; then
  echo "qemu-x86_64 died by signal $((status - 128)) (an emulator crash, not a canary result): running it once more" >&2
  canary "$@"; status=$?
fi
exit "$status"
