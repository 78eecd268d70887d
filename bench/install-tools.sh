#!/usr/bin/env bash
# Install the tools `bench/run compare` measures cxd against (only that benchmark needs them):
# watchexec into .tools/watchexec (from crates.io, built with --locked) and watchman from
# the Debian package. Each step is skipped when the tool is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .tools/watchexec/bin/watchexec ]; then
  echo "installing watchexec-cli into .tools/watchexec"
  t=$SECONDS
  cargo install -q --locked watchexec-cli --root .tools/watchexec
  echo "  watchexec installed in $((SECONDS - t)) s"
fi
if ! command -v watchman >/dev/null; then
  echo "installing watchman (apt-get)"
  t=$SECONDS
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq watchman >/dev/null
  echo "  watchman installed in $((SECONDS - t)) s"
fi
echo "watchexec: $(.tools/watchexec/bin/watchexec --version | head -1)"
echo "watchman: $(watchman --version)"
