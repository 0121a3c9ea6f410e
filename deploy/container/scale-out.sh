#!/usr/bin/env bash
# The suite as containers, scaled one service at a time, in production
# posture, proven here:
#   1. builds the five service images and the launcher image (podman),
#   2. makes a CA and certificates for the run (openssl: each service's, core
#      banking's client certificate, PostgreSQL's), a stand-in identity
#      provider's Ed25519 key, whose public half the services get as a JWKS
#      file, the bonds service's Ed25519 report signing key
#      (REPORT_SIGNING_KEY_FILE) and the committee's Ed25519 chain signing
#      key (CHAIN_SIGNING_KEY_FILE); no shared secret exists anywhere;
#   3. starts PostgreSQL outside the containers (as a managed database would
#      be) with TLS only (hostssl), and a podman network whose DNS serves
#      each service's name; the services connect with sslmode=verify-full as
#      their runtime roles; the roles and schemas are made by a CREATEROLE
#      owner of the database, not a superuser,
#   4. bootstraps and migrates with one-off containers; every service serves
#      TLS, wants client certificates of core banking and its peers, reads
#      its peers' feeds over https by its certificate (FEED_READERS), and
#      answers health in plaintext on a port of its own (GRPC_HEALTH_ADDR),
#   5. starts the development mail relay (the launcher's `mail-sink`, its
#      maildir a directory of this run) that the notices service sends
#      through, and REPLICAS (default 2) containers of each service behind
#      its name,
#   6. runs the pilot story (`socialloans demo`, in a container, calling the
#      services by name) and kills one replica of each service but bonds in
#      the middle,
#   7. checks that nothing was lost and nothing applied twice (every notice
#      sent is in the relay's maildir), starts replacements, runs the story
#      once more, and tears everything down.
# Exits non-zero on any failure. Needs podman, openssl, and PostgreSQL's
# server binaries on this machine. Image sizes and start-up times are printed.
set -euo pipefail
cd "$(dirname "$0")/../.."

step() { printf '\n== %s (%s)\n' "$1" "$(date +%T)"; }
fail() { echo "scale-out: $*" >&2; exit 1; }
command -v podman >/dev/null || fail "podman is not installed"
command -v openssl >/dev/null || fail "openssl is not installed"
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

step "network, certificates and keys for this run"
podman network create --label "$label" "$net" >/dev/null
subnet="$(podman network inspect "$net" --format '{{range .Subnets}}{{.Subnet}}{{end}}')"
gateway="$(podman network inspect "$net" --format '{{range .Subnets}}{{.Gateway}}{{end}}')"
pki="$work/pki" && mkdir -p "$pki"
ec() { printf '%s' "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"; }
# shellcheck disable=SC2046 # the key options are separate words
openssl req -x509 $(ec) -keyout "$pki/ca.key" -out "$pki/ca.pem" -days 2 -subj "/CN=Social Loans scale-out CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
leaf() { # file, subjectAltName
  # shellcheck disable=SC2046
  openssl req $(ec) -keyout "$pki/$1.key" -out "$pki/$1.csr" -subj "/CN=$1" 2>/dev/null
  openssl x509 -req -in "$pki/$1.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" -CAcreateserial -days 2 -out "$pki/$1.pem" \
    -extfile <(printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n' "$2") 2>/dev/null
}
for s in applications committee monitoring notices bonds; do leaf "$s" "DNS:$s"; done
leaf core-banking DNS:core-banking
leaf postgres "IP:$gateway"
# The identity provider's signing key: the story signs its tokens with it,
# the services hold only its public half.
kid="scale-out-$(date +%s)"
openssl genpkey -algorithm ed25519 -out "$pki/idp.key"
# The key the bonds service signs its reports with (PKCS#8), as a secret
# mounted in production gives it.
openssl genpkey -algorithm ed25519 -out "$pki/bonds-report.key"
# The key the committee signs its audit chain's head with (PKCS#8), likewise.
openssl genpkey -algorithm ed25519 -out "$pki/committee-chain.key"
rm -f "$pki"/*.csr "$pki/ca.key"
# Read by the containers' unprivileged user; a throwaway directory of this run.
chmod 755 "$pki" && chmod 644 "$pki"/*
podman run --rm --log-driver k8s-file --label "$label" -v "$pki:/etc/socialloans/pki:ro" \
  "localhost/socialloans/socialloans:$tag" jwks /etc/socialloans/pki/idp.key "$kid" >"$work/jwks.json"
mv "$work/jwks.json" "$pki/jwks.json" && chmod 644 "$pki/jwks.json"
echo "a CA, certificates for the five services, core banking and PostgreSQL ($gateway), Ed25519 keys ($kid; bonds' reports; committee's chain)"

step "PostgreSQL (outside the containers), TLS only"
admin_password="admin-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
bootstrap_password="bootstrap-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
mkdir -p "$work/pg" "$work/sock" && chown postgres "$work/pg" "$work/sock" 2>/dev/null || true
printf '%s\n' "$admin_password" >"$work/pwfile" && chmod 644 "$work/pwfile"
as_pg "$pg_bin/initdb" -D "$work/pg" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
  --pwfile="$work/pwfile" >/dev/null
cp "$pki/postgres.pem" "$pki/postgres.key" "$work/pg/"
chmod 600 "$work/pg/postgres.key" && chown postgres "$work/pg/postgres.pem" "$work/pg/postgres.key" 2>/dev/null || true
# From the containers' network: TLS or nothing.
echo "hostssl all all $subnet scram-sha-256" >>"$work/pg/pg_hba.conf"
as_pg "$pg_bin/pg_ctl" -D "$work/pg" -w -l "$work/pg/log" \
  -o "-c listen_addresses='*' -p $pg_port -k $work/sock -c ssl=on -c ssl_cert_file=postgres.pem -c ssl_key_file=postgres.key" \
  start >/dev/null
# No superuser leaves this machine: the roles and schemas are made by the
# database's owner, which may create roles and nothing more.
PGPASSWORD="$admin_password" psql -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -qAt \
  -c "CREATE ROLE socialloans_bootstrap LOGIN CREATEROLE PASSWORD '$bootstrap_password'" \
  -c "CREATE DATABASE socialloans OWNER socialloans_bootstrap" >/dev/null
echo "PostgreSQL on $gateway:$pg_port for the network $subnet (hostssl only)"

db() { echo "postgres://$1:$2@$gateway:$pg_port/$3?sslmode=verify-full&sslrootcert=/etc/socialloans/pki/ca.pem"; }
# Who reads whose feed: FEED_READERS of each producer. The notices service
# reads all three, the bonds service those of applications and monitoring;
# nobody reads theirs yet (empty: no peer is named).
readers() {
  case "$1" in
    applications) echo committee,monitoring,notices,bonds ;;
    committee) echo applications,notices ;;
    monitoring) echo applications,notices,bonds ;;
    notices | bonds) echo "" ;;
  esac
}
service_env() {
  local s="$1" p=/etc/socialloans/pki
  echo "-v $pki:$p:ro -e DATABASE_URL=$(db "$s" "$s-scale-pass" socialloans) -e AUTH_JWKS_FILE=$p/jwks.json"
  echo "-e TLS_CERT_FILE=$p/$s.pem -e TLS_KEY_FILE=$p/$s.key -e TLS_CLIENT_CA_FILE=$p/ca.pem -e TLS_CLIENT_AUTH=optional"
  echo "-e PEER_TLS_CA_FILE=$p/ca.pem -e PEER_TLS_CERT_FILE=$p/$s.pem -e PEER_TLS_KEY_FILE=$p/$s.key"
  echo "-e FEED_READERS=$(readers "$s") -e GRPC_HEALTH_ADDR=0.0.0.0:8080"
  echo "-e APPLICATIONS_FEED_URL=https://applications:50051 -e COMMITTEE_FEED_URL=https://committee:50052"
  echo "-e MONITORING_FEED_URL=https://monitoring:50053"
  # The development relay has no TLS; the bank's takes smtp://…:587?tls=required.
  [ "$s" != notices ] || echo "-e SMTP_URL=smtp://mail:2525"
  [ "$s" != bonds ] || echo "-e REPORT_SIGNING_KEY_FILE=$p/bonds-report.key"
  [ "$s" != committee ] || echo "-e CHAIN_SIGNING_KEY_FILE=$p/committee-chain.key"
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
      -e DATABASE_ADMIN_URL="$(db socialloans_bootstrap "$bootstrap_password" socialloans)" \
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
for s in applications committee monitoring notices bonds; do
  one_off "$s" bootstrap
  one_off "$s" migrate
done

# The service ports (50051-50055) lie in the kernel's default ephemeral
# range (32768-60999): a connection a replica opens while it starts (to
# PostgreSQL, a peer's feed, the relay; the health checks exec'd in it) may
# take one as its local port, and the bind then fails (address in use). In
# each replica's own network namespace the ephemeral range starts above them.
ephemeral="net.ipv4.ip_local_port_range=51000 60999"
start_replica() {
  local s="$1" i="$2" started
  started="$(date +%s%N)"
  # shellcheck disable=SC2046
  podman run -d --log-driver k8s-file --name "$s-$i" --label "$label" --network "$net" --network-alias "$s" $(service_env "$s") \
    --sysctl "$ephemeral" "localhost/socialloans/$s:$tag" >/dev/null
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

step "the mail relay, and $replicas replicas of each service behind its name"
# The relay keeps each message it accepts as a file in $work/mail/new.
mkdir -p "$work/mail" && chmod 777 "$work/mail"
podman run -d --log-driver k8s-file --name mail --label "$label" --network "$net" --network-alias mail \
  -v "$work/mail:/home/nonroot/mail" "localhost/socialloans/socialloans:$tag" \
  mail-sink --addr 0.0.0.0:2525 --maildir /home/nonroot/mail >/dev/null
for _ in $(seq 100); do [ -d "$work/mail/new" ] && break; sleep 0.05; done
[ -d "$work/mail/new" ] || { podman logs mail | tail -20; fail "the mail relay did not start"; }
echo "  mail             accepting on mail:2525"
for s in applications committee monitoring notices bonds; do
  for i in $(seq "$replicas"); do start_replica "$s" "$i"; done
done

# The service port takes no plaintext: a plaintext health check of it fails,
# while the health port answers.
podman exec -e GRPC_HEALTH_ADDR= -e TLS_CERT_FILE= -e GRPC_ADDR=127.0.0.1:50051 applications-1 \
  /usr/local/bin/applications health >/dev/null 2>&1 && fail "applications answered plaintext on its service port"
echo "  the service ports refuse plaintext; the health ports answer it"

story() {
  local name="$1" log="$work/$1.log" p=/etc/socialloans/pki
  mkdir -p "$work/$name" && chmod 777 "$work/$name"
  # Core banking's calls carry its client certificate; every token is the
  # identity provider's.
  podman run --rm --log-driver k8s-file --name "$name" --label "$label" --network "$net" -v "$work/$name:/home/nonroot" \
    -v "$pki:$p:ro" -e SOCIALLOANS_CA_FILE=$p/ca.pem \
    -e SOCIALLOANS_CLIENT_CERT_FILE=$p/core-banking.pem -e SOCIALLOANS_CLIENT_KEY_FILE=$p/core-banking.key \
    -e SOCIALLOANS_TOKEN_KEY_FILE=$p/idp.key -e SOCIALLOANS_TOKEN_KID="$kid" \
    -e SOCIALLOANS_APPLICATIONS_URL=https://applications:50051 -e SOCIALLOANS_COMMITTEE_URL=https://committee:50052 \
    -e SOCIALLOANS_MONITORING_URL=https://monitoring:50053 -e SOCIALLOANS_NOTICES_URL=https://notices:50054 \
    -e SOCIALLOANS_BONDS_URL=https://bonds:50055 \
    -e SOCIALLOANS_DEMO_PAUSE_MS="${2:-0}" \
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
podman kill applications-1 committee-1 monitoring-1 notices-1 >/dev/null
echo "killed applications-1, committee-1, monitoring-1 and notices-1 during chapter 2"
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

# The notices (after $1 stories): each borrower told once per story of its
# case on the agenda and of the decision (one recipient each, 2 x 2 notices a
# story); once the sender has tried what is due, none failed, and the
# relay's maildir holds exactly the notices marked sent (a message accepted
# by the relay just before its sender was killed is sent again by another
# replica with the same Message-ID: kept twice, counted once).
notices_check() {
  for _ in $(seq 150); do
    [ "$(psql_admin "SELECT count(*) FROM notices.communication WHERE state = 'PENDING' AND send_after < now() + interval '1 hour'")" = 0 ] \
      && break
    sleep 0.2
  done
  check "each borrower told of its case and its decision, once a story" \
    "SELECT count(*) FROM notices.communication WHERE kind IN ('CASE_SCHEDULED', 'DECISION') AND state = 'SENT'" \
    "$((4 * $1))"
  check "no notice waiting, failed or without a recipient" \
    "SELECT count(*) FROM notices.communication
      WHERE state IN ('FAILED', 'NO_RECIPIENT') OR (state = 'PENDING' AND send_after < now() + interval '1 hour')" 0
  local sent kept files
  sent="$(psql_admin "SELECT message_id FROM notices.communication WHERE state = 'SENT'" | LC_ALL=C sort -u)"
  kept="$(grep -h -i -m1 '^Message-ID:' "$work/mail/new"/* 2>/dev/null | tr -d '\r' | sed 's/^[^:]*: *//' | LC_ALL=C sort -u)"
  files="$(find "$work/mail/new" -type f | wc -l)"
  [ "$sent" = "$kept" ] || {
    echo "  sent, not in the maildir: $(LC_ALL=C comm -23 <(echo "$sent") <(echo "$kept") | tr '\n' ' ')" >&2
    echo "  in the maildir, not sent: $(LC_ALL=C comm -13 <(echo "$sent") <(echo "$kept") | tr '\n' ' ')" >&2
    fail "the notices sent and the messages the relay kept differ"
  }
  echo "  ok  every notice sent is in the relay's maildir ($(echo "$sent" | grep -c .) notices, $files messages)"
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
  "SELECT (SELECT count(*) FROM applications.consumer_dead_letter) + (SELECT count(*) FROM committee.consumer_dead_letter)
     + (SELECT count(*) FROM monitoring.consumer_dead_letter) + (SELECT count(*) FROM notices.consumer_dead_letter)
     + (SELECT count(*) FROM bonds.consumer_dead_letter)" 0
for schema in applications committee monitoring notices bonds; do
  check "$schema feed has no gaps" "SELECT count(*) = coalesce(max(position), 0) FROM $schema.outbox" t
done
check "every session of the services is TLS" \
  "SELECT count(*) > 0 AND bool_and(s.ssl) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
    WHERE a.usename IN ('applications', 'committee', 'monitoring', 'notices', 'bonds')" t
check "no service session as a superuser or an owner" \
  "SELECT count(*) FROM pg_stat_activity a JOIN pg_roles r ON r.rolname = a.usename
    WHERE a.client_addr << '$subnet'::inet AND (r.rolsuper OR a.usename LIKE '%_owner')" 0
notices_check 1

step "replacements started; the story once more"
# For the replicas killed above (bonds lost none).
for s in applications committee monitoring notices; do start_replica "$s" "$((replicas + 1))"; done
story_started="$(date +%s)"
story story-2 0 || { cat "$work/story-2.log"; fail "the second story failed"; }
echo "the second story took $(( $(date +%s) - story_started )) s"
settle 4
check "applications after two stories" "SELECT count(*) FROM applications.application" 4
check "monitoring plans after two stories" "SELECT count(*) FROM monitoring.monitoring_plan WHERE state = 'ACTIVE'" 4
notices_check 2

step "torn down"
