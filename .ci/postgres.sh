#!/usr/bin/env bash
# A PostgreSQL server for the decision-log tests, listening on 127.0.0.1 only. Idempotent: installs
# PostgreSQL if missing, creates a cluster of its own (not Debian's "main") on first use, starts it unless it
# is already running, and makes sure the test role and database exist. Prints one line on stdout,
#   export POLICYC_TEST_POSTGRES=postgresql://…
# for `eval "$(bash .ci/postgres.sh)"`; everything else goes to stderr. Runs as root.
set -euo pipefail

PORT="${POLICYC_PG_PORT:-54329}"
DATA="${POLICYC_PG_DATA:-/var/lib/postgresql/policyc-test}"
ROLE=policyc_test
PASSWORD=policyc_test
DB=policyc_test

log() { echo "postgres.sh: $*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
  log "must run as root (it installs packages and runs the server as the postgres user)"
  exit 1
fi

find_bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

BIN="$(find_bindir)"
if [ -z "$BIN" ] || [ ! -x "$BIN/pg_ctl" ] || [ ! -x "$BIN/initdb" ]; then
  log "installing PostgreSQL"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >&2
  BIN="$(find_bindir)"
fi
if ! id postgres >/dev/null 2>&1; then
  log "no postgres user after installing PostgreSQL"
  exit 1
fi
as_pg() { runuser -u postgres -- "$@"; }

# the cluster: initialised once, in a directory of its own, sockets inside it (no /var/run/postgresql needed)
if [ ! -s "$DATA/PG_VERSION" ]; then
  log "initialising a cluster in $DATA"
  rm -rf "$DATA"
  mkdir -p "$DATA"
  chown postgres:postgres "$DATA"
  chmod 700 "$DATA"
  as_pg "$BIN/initdb" -D "$DATA" -U postgres --auth-local=peer --auth-host=scram-sha-256 \
    --encoding=UTF8 --locale=C.UTF-8 >/dev/null 2>&1 \
    || as_pg "$BIN/initdb" -D "$DATA" -U postgres --auth-local=peer --auth-host=scram-sha-256 \
         --encoding=UTF8 --locale=C >&2
  cat >>"$DATA/postgresql.conf" <<EOF
# policyc tests
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DATA'
max_connections = 100
fsync = on
EOF
fi

ready() { "$BIN/pg_isready" -q -h "$DATA" -p "$PORT" -t 2 >/dev/null 2>&1; }
alive() {  # a process that exists and is not a zombie (a killed server's pid can linger as one)
  [ -r "/proc/$1/stat" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != "Z" ]
}

if ready; then
  log "server already running on port $PORT"
else
  PIDFILE="$DATA/postmaster.pid"
  if [ -f "$PIDFILE" ]; then
    pid="$(head -n 1 "$PIDFILE" || true)"
    if [ -n "$pid" ] && alive "$pid"; then
      log "a server (pid $pid) is starting or recovering; waiting for it"
      for _ in $(seq 60); do ready && break; sleep 1; done
      ready || { log "the server (pid $pid) does not accept connections; see $DATA/server.log"; exit 1; }
    else
      # killed without a shutdown (e.g. the session that started it ended): clear its lock files
      log "removing the stale lock files of a server that is gone"
      rm -f "$PIDFILE" "$DATA/.s.PGSQL.$PORT.lock"
    fi
  fi
  if ! ready; then
    log "starting the server on 127.0.0.1:$PORT"
    as_pg "$BIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w -t 120 start >&2 || {
      tail -n 30 "$DATA/server.log" >&2 || true
      exit 1
    }
  fi
fi

psql_admin() { as_pg "$BIN/psql" -h "$DATA" -p "$PORT" -U postgres -X -q -v ON_ERROR_STOP=1 "$@"; }

psql_admin -d postgres <<EOF >&2
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ROLE') THEN
    CREATE ROLE $ROLE LOGIN PASSWORD '$PASSWORD';
  ELSE
    ALTER ROLE $ROLE LOGIN PASSWORD '$PASSWORD';
  END IF;
END
\$\$;
EOF
if [ "$(psql_admin -d postgres -tA -c "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != "1" ]; then
  psql_admin -d postgres -c "CREATE DATABASE $DB OWNER $ROLE ENCODING 'UTF8' TEMPLATE template0" >&2
fi

URL="postgresql://$ROLE:$PASSWORD@127.0.0.1:$PORT/$DB"
# prove the URL works before handing it out
if ! PGPASSWORD="$PASSWORD" as_pg "$BIN/psql" "$URL" -X -tA -c "SELECT 1" >/dev/null; then
  log "cannot connect with $URL"
  exit 1
fi
log "ready: $URL"
echo "export POLICYC_TEST_POSTGRES=$URL"
