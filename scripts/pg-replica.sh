#!/usr/bin/env bash
# Creates (once) and starts a streaming read replica of the local Debian
# PostgreSQL cluster "main": a second cluster "replica" on REPLICA_PORT,
# made with pg_basebackup -R, for the read-replica tests
# (CHORUS_TEST_REPLICA_URL) and for trying database_replicas by hand.
# Run as root. Idempotent: a replica that exists and streams is left alone;
# one that was promoted, or can no longer catch up, is made again.
# See docs/read-replicas.md.
set -euo pipefail

PRIMARY_PORT=${PRIMARY_PORT:-5432}
REPLICA_PORT=${REPLICA_PORT:-5433}
VERSION=${PG_VERSION:-$(ls /etc/postgresql | sort -V | tail -n1)}
NAME=replica
PRIMARY_CONF=/etc/postgresql/$VERSION/main

log() { printf '== replica: %s\n' "$*"; }
primary() { psql -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres -d postgres -qAtc "$1"; }
replica() { psql -h 127.0.0.1 -p "$REPLICA_PORT" -U postgres -d postgres -qAtc "$1" 2>/dev/null; }

# The primary must write enough WAL for a standby and accept replication
# connections from loopback (trust, like the rest of this test cluster).
prepare_primary() {
  case "$(primary 'SHOW wal_level')" in
    replica | logical) ;;
    *)
      log "setting wal_level=replica on the primary (restart)"
      primary "ALTER SYSTEM SET wal_level = replica"
      pg_ctlcluster --skip-systemctl-redirect "$VERSION" main restart
      ;;
  esac
  if [ "$(primary 'SHOW max_wal_senders')" -lt 2 ]; then
    echo "max_wal_senders on the primary is below 2: raise it and restart" >&2
    exit 1
  fi
  if ! grep -Eq '^host[[:space:]]+replication[[:space:]]+postgres[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$PRIMARY_CONF/pg_hba.conf"; then
    log "allowing replication connections from 127.0.0.1"
    echo 'host replication postgres 127.0.0.1/32 trust' >>"$PRIMARY_CONF/pg_hba.conf"
    primary 'SELECT pg_reload_conf()' >/dev/null
  fi
}

# create_replica (re)makes the cluster from a fresh base backup of the
# primary; -R writes standby.signal and primary_conninfo.
create_replica() {
  if pg_lsclusters -h | awk '{print $1"/"$2}' | grep -qx "$VERSION/$NAME"; then
    log "dropping the old replica cluster"
    pg_dropcluster --stop "$VERSION" "$NAME"
  fi
  log "creating cluster $VERSION/$NAME on port $REPLICA_PORT"
  pg_createcluster "$VERSION" "$NAME" -p "$REPLICA_PORT" >/dev/null
  # The replica lets in whom the primary lets in (Debian keeps pg_hba.conf
  # outside the data directory, so the base backup does not bring it).
  install -o postgres -g postgres -m 640 "$PRIMARY_CONF/pg_hba.conf" "/etc/postgresql/$VERSION/$NAME/pg_hba.conf"
  local data=/var/lib/postgresql/$VERSION/$NAME
  # Keep the directory pg_createcluster made (its parent belongs to root):
  # pg_basebackup fills an empty one.
  find "$data" -mindepth 1 -delete
  log "pg_basebackup from port $PRIMARY_PORT"
  runuser -u postgres -- pg_basebackup -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres -D "$data" -R -X stream -c fast
}

start_replica() {
  if ! pg_isready -h 127.0.0.1 -p "$REPLICA_PORT" -q 2>/dev/null; then
    pg_ctlcluster --skip-systemctl-redirect "$VERSION" "$NAME" start || log "pg_ctlcluster start exited $? (waiting for streaming anyway)"
  fi
}

# streaming waits up to $1 seconds until the replica is a standby whose
# WAL receiver streams from the primary.
streaming() {
  for _ in $(seq 1 "$1"); do
    if [ "$(replica 'SELECT pg_is_in_recovery()')" = t ] &&
      [ "$(replica "SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming'")" = 1 ]; then
      return 0
    fi
    sleep 1
  done
  return 1
}

prepare_primary
if pg_lsclusters -h | awk '{print $1"/"$2}' | grep -qx "$VERSION/$NAME"; then
  start_replica || true
  if streaming 15; then
    # A test that died before its cleanup may have left replay paused.
    replica 'SELECT pg_wal_replay_resume()' >/dev/null || true
    log "streaming on port $REPLICA_PORT"
    exit 0
  fi
  log "the existing replica does not stream; making it again"
fi
create_replica
start_replica
if ! streaming 60; then
  echo "the replica on port $REPLICA_PORT did not start streaming" >&2
  exit 1
fi
log "streaming on port $REPLICA_PORT"
