#!/usr/bin/env bash
# Runs deploy/compose.yaml here, as a user would with Docker Compose, and
# proves it: PostgreSQL, the five bootstraps and migrations, the five services — each
# started when what it depends on is healthy or done — and the development
# mail relay, then the pilot story against them (with the notices and bonds
# services), checks that its notices reached the relay, then `down`. Exits
# non-zero on any failure.
#
# This machine has podman but neither Docker nor systemd, so: Compose v1
# (docker-compose, from PyPI) talks to podman's Docker-compatible API, and
# since podman schedules health checks with systemd timers, a small loop
# here runs each container's health check instead. The PostgreSQL image is
# a local stand-in unless POSTGRES_IMAGE names one. Images are built first
# (deploy/container/build-images.sh) unless SKIP_BUILD=1.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v podman >/dev/null || { echo "compose-up: podman is not installed" >&2; exit 2; }

export TAG="${TAG:-compose}"
project=socialloans
venv="${COMPOSE_VENV:-deploy/.venv-compose}"
work="$(mktemp -d)" && chmod 755 "$work"
export DOCKER_HOST="unix://$work/podman.sock"
export AUTH_HS256_SECRET="$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')"
compose() { "$venv/bin/docker-compose" -p "$project" -f deploy/compose.yaml "$@"; }

cleanup() {
  [ -n "${pump:-}" ] && kill "$pump" 2>/dev/null || true
  compose down -v --remove-orphans >/dev/null 2>&1 || true
  [ -n "${api:-}" ] && kill "$api" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

if [ ! -x "$venv/bin/docker-compose" ]; then
  echo "== Compose v1 into $venv"
  python3 -m venv "$venv"
  # Compose 1.29 and the versions of its dependencies that work with Python 3.11.
  "$venv/bin/pip" install --quiet --disable-pip-version-check "cython<3" wheel
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-build-isolation "PyYAML==5.4.1"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "docker-compose==1.29.2" "docker==5.0.3" "urllib3<2" "requests<2.32"
fi
[ "${SKIP_BUILD:-0}" = 1 ] || deploy/container/build-images.sh
export POSTGRES_IMAGE="${POSTGRES_IMAGE:-$(deploy/container/standin-postgres.sh)}"

podman system service --time=0 "$DOCKER_HOST" >"$work/api.log" 2>&1 &
api=$!
for _ in $(seq 50); do [ -S "$work/podman.sock" ] && break; sleep 0.1; done
# What systemd would do: run each container's health check every second.
(
  while true; do
    for c in $(podman ps -q --filter "label=com.docker.compose.project=$project"); do
      podman healthcheck run "$c" >/dev/null 2>&1 || true
    done
    sleep 1
  done
) &
pump=$!

echo "== up (images tagged $TAG, PostgreSQL from $POSTGRES_IMAGE)"
started="$(date +%s%N)"
# On failure, what each container that stopped badly said.
failed_containers() {
  for c in $(podman ps -a -q --filter "label=com.docker.compose.project=$project"); do
    code="$(podman inspect --format '{{.State.ExitCode}}' "$c")"
    [ "$code" = 0 ] && continue
    echo "-- $(podman inspect --format '{{.Name}}' "$c") exited $code:"
    podman logs "$c" 2>&1 | tail -20
  done
  echo "-- and the database said:"
  compose logs postgres 2>&1 | tail -20
}
# As an orchestrator retries a one-off step (a Job's backoffLimit), a
# bootstrap or migrate container that failed is run again by the next `up`
# (both are idempotent), up to three times; what failed is shown each time.
for attempt in 1 2 3; do
  compose up -d && break
  failed_containers
  [ "$attempt" = 3 ] && { echo "compose-up: 'up' failed three times" >&2; exit 1; }
  echo "compose-up: 'up' failed (attempt $attempt of 3); once more" >&2
  sleep 2
done
for s in applications committee monitoring notices bonds; do
  for _ in $(seq 120); do
    [ "$(podman inspect --format '{{.State.Health.Status}}' "${project}_${s}_1" 2>/dev/null)" = healthy ] && break
    sleep 0.5
  done
  [ "$(podman inspect --format '{{.State.Health.Status}}' "${project}_${s}_1")" = healthy ] \
    || { compose logs "$s" | tail -20; echo "compose-up: $s never became healthy" >&2; exit 1; }
done
echo "all healthy $(( ($(date +%s%N) - started) / 1000000 )) ms after 'up'"
for s in applications-bootstrap committee-bootstrap monitoring-bootstrap notices-bootstrap bonds-bootstrap \
  applications-migrate committee-migrate monitoring-migrate notices-migrate bonds-migrate; do
  code="$(podman inspect --format '{{.State.ExitCode}}' "${project}_${s}_1")"
  [ "$code" = 0 ] || { echo "compose-up: $s exited $code" >&2; exit 1; }
done
[ "$(podman inspect --format '{{.State.Running}}' "${project}_mail_1")" = true ] \
  || { compose logs mail | tail -20; echo "compose-up: the mail relay is not running" >&2; exit 1; }

echo "== the pilot story against the compose stack"
mkdir -p "$work/demo" && chmod 777 "$work/demo"
printf '%s' "$AUTH_HS256_SECRET" >"$work/demo/dev-auth-secret" && chmod 644 "$work/demo/dev-auth-secret"
podman run --rm --network "${project}_default" -v "$work/demo:/home/nonroot" \
  -e SOCIALLOANS_APPLICATIONS_URL=http://applications:50051 -e SOCIALLOANS_COMMITTEE_URL=http://committee:50052 \
  -e SOCIALLOANS_MONITORING_URL=http://monitoring:50053 -e SOCIALLOANS_NOTICES_URL=http://notices:50054 \
  -e SOCIALLOANS_BONDS_URL=http://bonds:50055 \
  "localhost/socialloans/socialloans:$TAG" demo >"$work/story.log" 2>&1 \
  || {
    cat "$work/story.log"
    # What the services said while the story ran, to tell a slow peer from a broken one.
    for s in applications committee monitoring notices bonds mail; do echo "-- $s:"; compose logs "$s" 2>&1 | tail -25; done
    echo "compose-up: the story failed" >&2
    exit 1
  }
grep -E "^── |The story ran to the end" "$work/story.log"

echo "== the story's notices in the mail relay's maildir"
# Each borrower is told at least that its case is on the agenda and of the
# decision: four messages or more, sent by the notices service (every
# NOTICE_SEND_MS) to the relay, which keeps each as a file in new/.
maildir="$(podman volume inspect --format '{{.Mountpoint}}' "${project}_maildir")/mail/new"
for _ in $(seq 60); do
  [ "$(find "$maildir" -type f 2>/dev/null | wc -l)" -ge 4 ] && break
  sleep 0.5
done
sent="$(find "$maildir" -type f 2>/dev/null | wc -l)"
[ "$sent" -ge 4 ] || {
  for s in notices mail; do echo "-- $s:"; compose logs "$s" 2>&1 | tail -25; done
  echo "compose-up: $sent notices reached the mail relay, expected 4 or more" >&2
  exit 1
}
echo "$sent notices reached the mail relay, to: $(grep -h -m1 -i '^To:' "$maildir"/* | sed 's/^To: *//I' | sort | uniq -c | awk '{ printf "%s%s (%s)", sep, $2, $1; sep = ", " }')"
echo "== down"
