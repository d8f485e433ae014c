#!/usr/bin/env bash
# Install oais and its Python dependencies into .venv (Debian 12, as root, or any Linux with Python 3.11+).
# Usage: bash ops/install.sh [--test]     (--test also installs the test tools)
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "ops/install.sh: missing ${need_apt[*]}; run as root or install them first" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" python3-dev gcc >/dev/null
fi

# The format policy's tools (policies/formats.toml): Ghostscript and ImageMagick from Debian.
need_tools=()
command -v gs >/dev/null 2>&1 || need_tools+=(ghostscript)
[ -x /usr/bin/convert ] || need_tools+=(imagemagick)
if [ ${#need_tools[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_tools[@]}" >/dev/null
  else
    echo "ops/install.sh: the format policy's tools are missing: install the Debian packages ${need_tools[*]}" >&2
  fi
fi

# The browser tests of the HTML evidence reports (--test only): Debian's chromium, driven by playwright
# (never playwright's own browser download).
if [ "${1:-}" = "--test" ] && [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "ops/install.sh: the browser tests need Debian's chromium: install the Debian package chromium (as root: apt-get install chromium)" >&2
  fi
fi

python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "ops/install.sh: Python 3.11 or newer is needed (found $(python3 --version))" >&2
  exit 1
}

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
extras=""
[ "${1:-}" = "--test" ] && extras="[test]"
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".${extras}"
echo "oais installed: $(.venv/bin/oais --help >/dev/null && echo .venv/bin/oais)"
