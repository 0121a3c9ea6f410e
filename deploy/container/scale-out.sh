#!/usr/bin/env bash
# The suite as containers, scaled one service at a time, proven here:
#   1. builds the three service images and the launcher image (podman),
#   2. starts PostgreSQL outside the containers (as a managed database would
#      be) and a podman network whose DNS serves each service's name,
#   3. bootstraps and migrates with one-off containers,
#   4. starts REPLICAS (default 2) containers of each service behind its name,
#   5. runs the pilot story (`socialloans demo`, in a container, calling the
#      services by name) and kills one replica of each service in the middle,
#   6. checks that nothing was lost and nothing applied twice, starts
#      replacements, runs the story once more, and tears everything down.
# Exits non-zero on any failure. Needs podman, and PostgreSQL's server
# binaries on this machine. Image sizes and start-up times are printed.
set -euo pipefail
cd "$(dirname "$0")/../.."

step() { printf '\n== %s (%s)\n' "$1" "$(date +%T)"; }
fail() { echo "scale-out: $*" >&2; exit 1; }
command -v podman >/dev/null || fail "podman is not installed"
pg_bin="$(dirname "$(command -v initdb 2>/dev/null || ls /usr/lib/postgresql/*/bin/initdb | tail -1)")"
[ -x "$pg_bin/postgres" ] || fail "PostgreSQL's server binaries are not installed (apt-get install postgresql)"

replicas="${REPLICAS:-2}"
tag=scale
net=socialloans-scale
label=socialloans-scale
work="$(mktemp -d)" && chmod 755 "$work"
pg_port="${SCALE_PG_PORT:-55432}"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

cleanup() {
  podman ps -aq --filter "label=$label" | xargs -r podman rm -f >/dev/null 2>&1 || true
  podman network rm -f "$net" >/dev/null 2>&1 || true
  [ -f "$work/pg/postmaster.pid" ] && as_pg "$pg_bin/pg_ctl" -D "$work/pg" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

step "binaries and images"
TAG="$tag" deploy/container/build-images.sh

step "network and PostgreSQL (outside the containers)"
podman network create --label "$label" "$net" >/dev/null
subnet="$(podman network inspect "$net" --format '{{range .Subnets}}{{.Subnet}}{{end}}')"
gateway="$(podman network inspect "$net" --format '{{range .Subnets}}{{.Gateway}}{{end}}')"
admin_password="admin-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
mkdir -p "$work/pg" "$work/sock" && chown postgres "$work/pg" "$work/sock" 2>/dev/null || true
printf '%s\n' "$admin_password" >"$work/pwfile" && chmod 644 "$work/pwfile"
as_pg "$pg_bin/initdb" -D "$work/pg" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
  --pwfile="$work/pwfile" >/dev/null
echo "host all all $subnet scram-sha-256" >>"$work/pg/pg_hba.conf"
as_pg "$pg_bin/pg_ctl" -D "$work/pg" -w -l "$work/pg/log" \
  -o "-c listen_addresses='*' -p $pg_port -k $work/sock" start >/dev/null
echo "PostgreSQL on $gateway:$pg_port for the network $subnet"

secret="$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')"
db() { echo "postgres://$1:$2@$gateway:$pg_port/$3"; }
service_env() {
  local s="$1"
  echo "-e DATABASE_URL=$(db "$s" "$s-scale-pass" socialloans) -e AUTH_ALLOW_HS256=development -e AUTH_HS256_SECRET=$secret"
  echo "-e APPLICATIONS_FEED_URL=http://applications:50051 -e COMMITTEE_FEED_URL=http://committee:50052"
  echo "-e MONITORING_FEED_URL=http://monitoring:50053"
}

step "bootstrap and migrations (one-off containers)"
# As a Kubernetes Job would (backoffLimit), a one-off step that fails is run
# again, up to three times; what it said is shown each time it fails. Both
# steps are idempotent.
one_off() {
  local s="$1" command="$2" attempt
  for attempt in 1 2 3; do
    # shellcheck disable=SC2046
    if podman run --rm --log-driver k8s-file --label "$label" --network "$net" $(service_env "$s") \
      -e DATABASE_ADMIN_URL="$(db postgres "$admin_password" postgres)" \
      -e DATABASE_MIGRATION_URL="$(db "${s}_owner" "$s-scale-owner-pass" socialloans)" \
      "localhost/socialloans/$s:$tag" "$command" >"$work/one-off.log" 2>&1; then
      return 0
    fi
    echo "  $s $command failed (attempt $attempt of 3); it said:" >&2
    tail -5 "$work/one-off.log" >&2
    sleep 2
  done
  fail "$s $command failed three times"
}
for s in applications committee monitoring; do
  one_off "$s" bootstrap
  one_off "$s" migrate
done

start_replica() {
  local s="$1" i="$2" started
  started="$(date +%s%N)"
  # shellcheck disable=SC2046
  podman run -d --log-driver k8s-file --name "$s-$i" --label "$label" --network "$net" --network-alias "$s" $(service_env "$s") \
    "localhost/socialloans/$s:$tag" >/dev/null
  for _ in $(seq 300); do
    if podman exec "$s-$i" "/usr/local/bin/$s" health >/dev/null 2>&1; then
      printf '  %-16s SERVING after %4d ms\n' "$s-$i" "$(( ($(date +%s%N) - started) / 1000000 ))"
      return 0
    fi
    sleep 0.05
  done
  podman logs "$s-$i" | tail -20
  fail "$s-$i did not become SERVING"
}

step "replicas: $replicas of each service, behind its name"
for s in applications committee monitoring; do
  for i in $(seq "$replicas"); do start_replica "$s" "$i"; done
done

story() {
  local name="$1" log="$work/$1.log"
  mkdir -p "$work/$name" && chmod 777 "$work/$name"
  printf '%s' "$secret" >"$work/$name/dev-auth-secret" && chmod 644 "$work/$name/dev-auth-secret"
  podman run --rm --log-driver k8s-file --name "$name" --label "$label" --network "$net" -v "$work/$name:/home/nonroot" \
    -e SOCIALLOANS_APPLICATIONS_URL=http://applications:50051 -e SOCIALLOANS_COMMITTEE_URL=http://committee:50052 \
    -e SOCIALLOANS_MONITORING_URL=http://monitoring:50053 -e SOCIALLOANS_DEMO_PAUSE_MS="${2:-0}" \
    "localhost/socialloans/socialloans:$tag" demo >"$log" 2>&1
}

step "the pilot story, with one replica of each service killed in the middle"
story_started="$(date +%s)"
story story-1 1500 &
story_pid=$!
for _ in $(seq 600); do
  grep -q "2. The expert committee meets" "$work/story-1.log" 2>/dev/null && break
  sleep 0.05
done
grep -q "2. The expert committee meets" "$work/story-1.log" || { cat "$work/story-1.log"; fail "the story did not start"; }
podman kill applications-1 committee-1 monitoring-1 >/dev/null
echo "killed applications-1, committee-1 and monitoring-1 during chapter 2"
wait "$story_pid" || { cat "$work/story-1.log"; fail "the story failed after the replicas were killed"; }
grep -E "^── |The story ran to the end|were sent again" "$work/story-1.log"
echo "the story took $(( $(date +%s) - story_started )) s (with 4 pauses of 1.5 s for the kill to land mid-story)"

psql_admin() {
  PGPASSWORD="$admin_password" psql -h 127.0.0.1 -p "$pg_port" -U postgres -d socialloans -Atqc "$1"
}
check() { # what, sql, expected
  local got
  got="$(psql_admin "$2")"
  [ "$got" = "$3" ] || fail "$1: expected $3, found $got"
  echo "  ok  $1 ($got)"
}

settle() { # until every consumer has applied what its producer published
  for _ in $(seq 100); do
    [ "$(psql_admin "SELECT count(*) FROM monitoring.monitoring_plan WHERE state = 'ACTIVE'")" = "$1" ] && return 0
    sleep 0.1
  done
}

step "nothing lost, nothing applied twice"
settle 2
check "applications" "SELECT count(*) FROM applications.application" 2
check "each confirmed decision applied once" \
  "SELECT count(*) FROM applications.application_history WHERE to_state IN ('APPROVED', 'APPROVED_WITH_CONDITIONS')" 2
check "a committee case per referral" "SELECT count(*) FROM committee.committee_case" 2
check "a monitoring plan per approval, activated by its loan" \
  "SELECT count(*) FROM monitoring.monitoring_plan WHERE state = 'ACTIVE'" 2
check "submitted report versions (2 + 3)" "SELECT count(*) FROM monitoring.outcome_report_version" 5
check "no parked events" \
  "SELECT (SELECT count(*) FROM applications.consumer_dead_letter) + (SELECT count(*) FROM committee.consumer_dead_letter) + (SELECT count(*) FROM monitoring.consumer_dead_letter)" 0
for schema in applications committee monitoring; do
  check "$schema feed has no gaps" "SELECT count(*) = coalesce(max(position), 0) FROM $schema.outbox" t
done

step "replacements started; the story once more"
for s in applications committee monitoring; do start_replica "$s" "$((replicas + 1))"; done
story_started="$(date +%s)"
story story-2 0 || { cat "$work/story-2.log"; fail "the second story failed"; }
echo "the second story took $(( $(date +%s) - story_started )) s"
settle 4
check "applications after two stories" "SELECT count(*) FROM applications.application" 4
check "monitoring plans after two stories" "SELECT count(*) FROM monitoring.monitoring_plan WHERE state = 'ACTIVE'" 4

step "torn down"
