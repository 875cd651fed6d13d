#!/usr/bin/env bash
# Start (or stop) a throwaway PostgreSQL cluster for tests and benchmarks.
#   scripts/postgres.sh start DIR PORT   -> prints the database URL
#   scripts/postgres.sh stop DIR
# Installs Debian's postgresql package first if no server is on the machine.
set -euo pipefail

action=${1:?start|stop}
dir=${2:?data folder}

pg_bin() {
  local found
  found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
  if [ -z "$found" ]; then
    if [ "$(id -u)" != 0 ]; then
      echo "PostgreSQL is not installed and this is not root: install Debian's postgresql package" >&2
      exit 1
    fi
    echo "Installing PostgreSQL from Debian's packages..." >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends postgresql >&2
    found=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  fi
  echo "$found"
}

as_owner() {
  # PostgreSQL refuses to run as root: run it as the postgres system user then.
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql postgres
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

case "$action" in
  start)
    port=${3:-54329}
    bin=$(pg_bin)
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && { id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql postgres; chown postgres "$dir"; }
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      as_owner "$bin/initdb" -D "$dir/data" -U fidelo -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
    fi
    # Durability settings are relaxed for throwaway test data only (fsync off).
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -o \
      "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=${FIDELO_PG_FSYNC:-off} -c synchronous_commit=${FIDELO_PG_SYNC_COMMIT:-off} -c full_page_writes=off -c max_connections=200 -c shared_buffers=256MB" \
      start >/dev/null
    as_owner "$bin/psql" -h 127.0.0.1 -p "$port" -U fidelo -d postgres -qtAc "SELECT 1 FROM pg_database WHERE datname='fidelo'" | grep -q 1 \
      || as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U fidelo fidelo
    echo "postgres://fidelo@127.0.0.1:$port/fidelo"
    ;;
  stop)
    bin=$(pg_bin)
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 || true
    ;;
  *)
    echo "usage: $0 start DIR [PORT] | stop DIR" >&2
    exit 2
    ;;
esac
