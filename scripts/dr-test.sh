#!/usr/bin/env bash
# dr-test.sh: a disaster-recovery drill on loopback, timed.
#
# Starts Chorus on a fresh PostgreSQL database (simulator models, strict
# billing, so every answered request is a ledger posting), sends traffic
# and credit grants, takes a verified backup with `chorus backup`, keeps
# sending traffic, then destroys the deployment: SIGKILL and DROP
# DATABASE. It restores the latest verified backup with `chorus restore`
# (which recreates the database), starts Chorus again, and prints the
# measured RTO (destruction → ready and answering) and RPO (backup →
# destruction, and the ledger postings lost). See docs/disaster-recovery.md.
#
# Environment (all optional):
#   CHORUS_BIN                the binary (default: built into a temp dir)
#   CHORUS_TEST_POSTGRES_URL  a database on the server to use
#                             (default postgres://postgres@127.0.0.1:5432/test?sslmode=disable);
#                             the drill creates and drops its own database there
#   DR_PORT                   the port Chorus listens on (default 18400-18999)
#   DR_REQUESTS               requests before and after the backup (default 40)
#
# The last lines are KEY=value for machines: RTO_SECONDS, RPO_SECONDS,
# POSTINGS_AT_BACKUP, POSTINGS_AT_DISASTER, POSTINGS_RESTORED, POSTINGS_LOST,
# and the same four for SETTLEMENTS (requests charged).
set -euo pipefail

BASE_URL=${CHORUS_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
PORT=${DR_PORT:-$((18400 + RANDOM % 600))}
REQUESTS=${DR_REQUESTS:-40}
DB="chorus_dr_$(date +%s)_$$"
WORK=$(mktemp -d -t chorus-dr.XXXXXX)
DATA="$WORK/data"
BACKUPS="$WORK/backups"
LOG="$WORK/chorus.log"
PID=""

log() { printf '== %s %s\n' "$(date -u +%H:%M:%S.%3N)" "$*"; }
die() { printf 'dr-test: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

for tool in psql curl pg_dump pg_restore; do
  command -v "$tool" >/dev/null || die "$tool is needed (Debian: postgresql-client, curl)"
done

# A URL for database $1 on the same server as BASE_URL.
db_url() {
  local rest=${BASE_URL#*://} scheme=${BASE_URL%%://*} query=""
  local hostpart=${rest%%/*} path=${rest#*/}
  [[ $path == *\?* ]] && query="?${path#*\?}"
  printf '%s://%s/%s%s' "$scheme" "$hostpart" "$1" "$query"
}
ADMIN_URL=$(db_url postgres)
URL=$(db_url "$DB")

cleanup() {
  local rc=$?
  if [ -n "$PID" ]; then
    kill -9 "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
  fi
  psql -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  if [ $rc -ne 0 ] && [ -f "$LOG" ]; then
    echo "--- chorus log (last 40 lines)" >&2
    tail -n 40 "$LOG" >&2
  fi
  rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT INT TERM

if [ -z "${CHORUS_BIN:-}" ]; then
  log "building chorus"
  CHORUS_BIN="$WORK/chorus"
  (cd "$(dirname "$0")/.." && go build -o "$CHORUS_BIN" ./cmd/chorus)
fi

export CHORUS_DATABASE_URL="$URL" CHORUS_DATA_DIR="$DATA" CHORUS_LISTEN="127.0.0.1:$PORT"
export CHORUS_MASTER_KEY="dr-master-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
export CHORUS_BILLING_MODE=strict CHORUS_BILLING_EXEMPT_ADMINS=false CHORUS_LOG_LEVEL=warn CHORUS_BOOTSTRAP=true CHORUS_AUTO_MIGRATE=true
export CHORUS_BACKUP_DIR="$BACKUPS"
unset CHORUS_CONFIG
API="http://127.0.0.1:$PORT"

start_chorus() {
  "$CHORUS_BIN" serve >>"$LOG" 2>&1 &
  PID=$!
}

# wait_ready: /readyz answers 200 and a model request is answered.
wait_ready() {
  local deadline=$((SECONDS + 60))
  while [ $SECONDS -lt $deadline ]; do
    kill -0 "$PID" 2>/dev/null || die "chorus exited"
    if curl -fs -o /dev/null "$API/readyz" && chat >/dev/null; then return 0; fi
    sleep 0.05
  done
  die "chorus not ready within 60s"
}

chat() {
  curl -fsS -o /dev/null --max-time 10 "$API/v1/chat/completions" \
    -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
    -d '{"model": "sim-small", "messages": [{"role": "user", "content": "disaster recovery drill"}], "max_tokens": 16}'
}

grant() {
  curl -fsS -o /dev/null --max-time 10 "$API/api/admin/credits/grant" \
    -H "Authorization: Bearer $CHORUS_MASTER_KEY" -H 'Content-Type: application/json' \
    -H "Idempotency-Key: dr-grant-$1" -d "{\"team_id\": $TEAM, \"amount\": 1000000000, \"memo\": \"dr drill\"}"
}

traffic() { # $1: a label for the grant, $2: requests
  grant "$1"
  for _ in $(seq 1 "$2"); do chat; done
}

postings() { psql -Atq "$URL" -c 'SELECT COUNT(*) FROM ledger_postings'; }
settlements() { psql -Atq "$URL" -c 'SELECT COUNT(*) FROM settlements'; }

log "creating database $DB"
psql -q "$ADMIN_URL" -c "CREATE DATABASE $DB" >/dev/null

log "starting chorus on $API"
KEY=""
start_chorus
deadline=$((SECONDS + 60))
until KEY=$(sed -n 's/^ *API key: *//p' "$LOG" | head -n1) && [ -n "$KEY" ]; do
  [ $SECONDS -lt $deadline ] || die "no bootstrap API key printed"
  kill -0 "$PID" 2>/dev/null || die "chorus exited"
  sleep 0.05
done
until curl -fs -o /dev/null "$API/readyz"; do
  [ $SECONDS -lt $deadline ] || die "chorus not ready"
  sleep 0.05
done
TEAM=$(curl -fsS "$API/api/credits/balance" -H "Authorization: Bearer $KEY" | sed -n 's/.*"team_id":\([0-9]*\).*/\1/p')
[ -n "$TEAM" ] || die "could not read the admin's team"

log "traffic before the backup: a grant and $REQUESTS requests"
traffic before "$REQUESTS"

log "chorus backup (verified by restoring it into a scratch database)"
"$CHORUS_BIN" backup --dir "$BACKUPS" | sed 's/^/   /'
MANIFEST=$(ls -d "$BACKUPS"/*/manifest.json | tail -n1)
BACKUP_AT=$(date -d "$(sed -n 's/.*"started_at": "\([^"]*\)".*/\1/p' "$MANIFEST" | head -n1)" +%s.%N)
AT_BACKUP=$(sed -n 's/.*"ledger_postings": \([0-9]*\).*/\1/p' "$MANIFEST" | head -n1)
SETTLED_AT_BACKUP=$(sed -n 's/.*"settlements": \([0-9]*\).*/\1/p' "$MANIFEST" | head -n1)

log "traffic after the backup: a grant and $REQUESTS requests"
traffic after "$REQUESTS"
AT_DISASTER=$(postings)
SETTLED_AT_DISASTER=$(settlements)

log "DISASTER: SIGKILL chorus and DROP DATABASE $DB"
T_KILLED=$(now)
kill -9 "$PID"
wait "$PID" 2>/dev/null || true
PID=""
psql -q "$ADMIN_URL" -c "DROP DATABASE $DB WITH (FORCE)" >/dev/null
T_DESTROYED=$(now)

log "chorus restore --from $BACKUPS (the latest verified backup)"
"$CHORUS_BIN" restore --from "$BACKUPS" | sed 's/^/   /'
RESTORED=$(postings)
SETTLED_RESTORED=$(settlements)
log "starting chorus again"
start_chorus
wait_ready
T_READY=$(now)

log "the restored deployment serves; checking its books"
"$CHORUS_BIN" audit verify | sed 's/^/   /'
chat || die "a request after the restore failed"

RTO=$(elapsed "$T_DESTROYED" "$T_READY")
RPO=$(elapsed "$BACKUP_AT" "$T_KILLED")
cat <<REPORT

Disaster-recovery drill (PostgreSQL on loopback, $REQUESTS requests before and after the backup)
  RTO: ${RTO}s from the database's destruction (DROP DATABASE done) to Chorus ready and answering
  RPO: ${RPO}s of writes lost (the backup's snapshot to the last possible write, the kill):
       $((AT_DISASTER - RESTORED)) ledger postings of $AT_DISASTER (charges and grants),
       $((SETTLED_AT_DISASTER - SETTLED_RESTORED)) settled requests of $SETTLED_AT_DISASTER
RTO_SECONDS=$RTO
RPO_SECONDS=$RPO
POSTINGS_AT_BACKUP=$AT_BACKUP
POSTINGS_AT_DISASTER=$AT_DISASTER
POSTINGS_RESTORED=$RESTORED
POSTINGS_LOST=$((AT_DISASTER - RESTORED))
SETTLEMENTS_AT_BACKUP=$SETTLED_AT_BACKUP
SETTLEMENTS_AT_DISASTER=$SETTLED_AT_DISASTER
SETTLEMENTS_RESTORED=$SETTLED_RESTORED
SETTLEMENTS_LOST=$((SETTLED_AT_DISASTER - SETTLED_RESTORED))
REPORT
