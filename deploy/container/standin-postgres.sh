#!/usr/bin/env bash
# A local stand-in for the PostgreSQL image the compose file names, for
# machines that cannot pull one: this machine's own PostgreSQL server
# binaries, their libraries and data files, and a small entry script that
# keeps the official image's contract (POSTGRES_PASSWORD, data in
# /var/lib/postgresql/data, port 5432, pg_isready for health checks).
#
#   deploy/container/standin-postgres.sh [IMAGE]   # default localhost/socialloans/postgres:standin
set -euo pipefail
image="${1:-localhost/socialloans/postgres:standin}"
bin="$(dirname "$(ls /usr/lib/postgresql/*/bin/postgres | tail -1)")"
version_dir="$(dirname "$bin")"
share="/usr/share/postgresql/$(basename "$version_dir")"
root="$(mktemp -d)" && chmod 755 "$root"
trap 'rm -rf "$root"' EXIT

mkdir -p "$root/tmp" "$root/var/lib/postgresql/data" "$root/var/run/postgresql" "$root/etc" "$root/usr/local/bin"
chmod 1777 "$root/tmp"
copy() { cp -a --parents "$@" "$root"; }
copy "$version_dir" "$share" /usr/share/zoneinfo /bin/sh /bin/dash /usr/bin/dash 2>/dev/null || copy "$version_dir" "$share" /bin/sh
for exe in "$bin"/postgres "$bin"/initdb "$bin"/pg_isready "$bin"/pg_ctl /bin/sh; do
  for lib in $(ldd "$(readlink -f "$exe")" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
    cp -L --parents "$lib" "$root" 2>/dev/null || true
  done
done
# `cp --parents` makes parent directories private; everyone must traverse them.
find "$root" -type d -exec chmod go+rx {} +
printf 'root:x:0:0:root:/root:/bin/sh\npostgres:x:999:999:PostgreSQL:/var/lib/postgresql:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\npostgres:x:999:\n' >"$root/etc/group"
cat >"$root/usr/local/bin/docker-entrypoint.sh" <<'SCRIPT'
#!/bin/sh
set -e
export PATH="PGBIN:$PATH"
PGDATA="${PGDATA:-/var/lib/postgresql/data}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  printf '%s\n' "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}" >/tmp/pwfile
  initdb -D "$PGDATA" -U postgres --locale=C --encoding=UTF8 --auth-local=trust --auth-host=scram-sha-256 \
    --pwfile=/tmp/pwfile >/dev/null
  : >/tmp/pwfile
  echo "host all all 0.0.0.0/0 scram-sha-256" >>"$PGDATA/pg_hba.conf"
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories=/var/run/postgresql
SCRIPT
sed -i "s#PGBIN#$bin#" "$root/usr/local/bin/docker-entrypoint.sh"
chmod 755 "$root/usr/local/bin/docker-entrypoint.sh"
ln -s "$bin/pg_isready" "$root/usr/local/bin/pg_isready"
chown -R 999:999 "$root/var/lib/postgresql" "$root/var/run/postgresql"

tar --numeric-owner -C "$root" -c . | podman import \
  --change 'USER 999:999' --change 'ENV PGDATA=/var/lib/postgresql/data' \
  --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' --change 'EXPOSE 5432' \
  --change 'VOLUME /var/lib/postgresql/data' \
  --change 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' - "$image" >/dev/null
echo "$image"
