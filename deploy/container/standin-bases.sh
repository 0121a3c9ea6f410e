#!/usr/bin/env bash
# Local stand-in for the run-time base image, for machines that cannot pull
# one (an air-gapped build host, or this project's CI): a distroless-like root
# filesystem made from this machine's own files — the C library and libgcc
# the binaries link against, CA certificates, a passwd entry for the
# unprivileged user 65532, /tmp — and no shell, package manager or compiler.
#
#   deploy/container/standin-bases.sh BINARY [IMAGE]
#
# BINARY is one of the built services (its shared libraries are what the base
# must carry); IMAGE defaults to localhost/socialloans/runtime-base:standin.
# Pass it to the build as --build-arg RUNTIME_IMAGE=IMAGE.
set -euo pipefail
binary="${1:?usage: standin-bases.sh BINARY [IMAGE]}"
image="${2:-localhost/socialloans/runtime-base:standin}"
root="$(mktemp -d)" && chmod 755 "$root"
trap 'rm -rf "$root"' EXIT

mkdir -p "$root/etc/ssl/certs" "$root/tmp" "$root/home/nonroot" "$root/usr/local/bin"
chmod 1777 "$root/tmp"
# The dynamic loader and every library the binary needs, at the paths it expects.
for lib in $(ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
  cp -L --parents "$lib" "$root"
done
cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$root/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$root/etc/group"
chown 65532:65532 "$root/home/nonroot"

tar --numeric-owner -C "$root" -c . | podman import --change 'USER 65532:65532' - "$image" >/dev/null
echo "$image"
