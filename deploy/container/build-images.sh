#!/usr/bin/env bash
# Builds the images: the six binaries with `cargo build --locked` (release
# by default; BUILD_PROFILE=dev reuses a debug build, as CI does), stripped
# into deploy/container/bin/, then one image per target of the Containerfile,
# tagged localhost/socialloans/<target>:${TAG:-latest}. RUNTIME_IMAGE names
# the run-time base; without it a local stand-in is made from this machine
# (no registry needed). Prints each image's size.
set -euo pipefail
cd "$(dirname "$0")/../.."
tag="${TAG:-latest}"
profile="${BUILD_PROFILE:-release}"
out_dir="target/$([ "$profile" = dev ] && echo debug || echo "$profile")"
echo "== binaries (cargo build --profile $profile --locked, then stripped)"
cargo build --profile "$profile" --locked --bin applications --bin committee --bin monitoring --bin notices --bin bonds --bin socialloans
mkdir -p deploy/container/bin
for b in applications committee monitoring notices bonds socialloans; do strip -o "deploy/container/bin/$b" "$out_dir/$b"; done

echo "== images"
runtime="${RUNTIME_IMAGE:-}"
if [ -z "$runtime" ]; then
  runtime="$(deploy/container/standin-bases.sh "$out_dir/applications")"
  echo "no RUNTIME_IMAGE given: using the local stand-in base $runtime"
fi
for target in applications committee monitoring notices bonds socialloans; do
  podman build -q -f deploy/container/Containerfile --build-arg BINARIES=prebuilt \
    --build-arg RUNTIME_IMAGE="$runtime" --target "$target" -t "localhost/socialloans/$target:$tag" . >/dev/null
  size="$(podman image inspect --format '{{.Size}}' "localhost/socialloans/$target:$tag")"
  awk -v t="$target" -v b="$size" 'BEGIN { printf "  %-13s %6.1f MB\n", t, b / 1048576 }'
done
