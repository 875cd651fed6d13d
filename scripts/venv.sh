# Sourced by scripts/run and scripts/test: create .venv (installing Debian's python3-venv
# if the interpreter lacks it) and install Fidelo into it with the given extras.
ensure_venv() {
  local extras=${1:-}
  if [ ! -x .venv/bin/python ]; then
    if ! python3 -m venv .venv 2>/dev/null; then
      rm -rf .venv
      if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "Installing Debian's python3-venv..." >&2
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >&2
      fi
      python3 -m venv .venv || { echo "Cannot create a virtual environment (install python3-venv)" >&2; return 1; }
    fi
  fi
  .venv/bin/pip install -q --disable-pip-version-check -e ".${extras}" || return 1
}

# The browser tests drive Debian's Chromium through Playwright's Python package (installed by
# the test extra). Playwright's own browser download is never used: install the chromium
# package (and a font for readable screenshots) if it is missing.
ensure_chromium() {
  if [ -x /usr/bin/chromium ]; then
    return 0
  fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "Installing Debian's chromium for the browser tests..." >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >&2 || return 1
  else
    echo "Chromium is missing: install Debian's chromium package (the browser tests need /usr/bin/chromium)" >&2
    return 1
  fi
}
