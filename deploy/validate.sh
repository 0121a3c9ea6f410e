#!/usr/bin/env bash
# Checks what deploy/ describes but this machine cannot run as such:
# - the Kubernetes manifests (the base and every overlay), rendered with
#   `kubectl kustomize` and validated strictly against the Kubernetes API
#   schemas (kubernetes-validate). Custom resources (CloudNativePG's Cluster)
#   have no schema there and are reported as warnings;
# - the compose file, resolved by podman-compose (`config`);
# - deploy/posture.py on every rendered set: capacity (memory per replica,
#   connections at the autoscalers' maximum) everywhere, and in every overlay
#   the production posture (no HS256, TLS everywhere, https feeds,
#   verify-full, the database's NetworkPolicy, no superuser, signing keys
#   from Secrets), with a self-test that breaks each rule once and expects
#   it reported.
# Both tools come from PyPI into a virtualenv (deploy/.venv). Exits non-zero
# on any error.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${DEPLOY_VALIDATE_VENV:-$here/.venv}"
version="${KUBERNETES_VERSION:-1.31.0}"
command -v kubectl >/dev/null || { echo "validate: kubectl (with kustomize) is needed" >&2; exit 2; }
if [ ! -x "$venv/bin/kubernetes-validate" ] || [ ! -x "$venv/bin/podman-compose" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check kubernetes-validate==1.37.0 podman-compose==1.6.0
fi
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
AUTH_HS256_SECRET=validate "$venv/bin/podman-compose" -f "$here/compose.yaml" --profile telemetry config >"$out/compose.yaml"
services="$(awk '/^services:/ { on = 1; next } /^[a-z]/ { on = 0 } on && /^  [a-z-]+:$/ { n++ } END { print n }' "$out/compose.yaml")"
# PostgreSQL; per service (applications, committee, monitoring, notices,
# bonds) its bootstrap, migrate and itself; the mail relay; the telemetry
# collector.
[ "$services" -eq 18 ] || { echo "compose: expected 18 services, resolved $services" >&2; exit 1; }
echo "compose: $services services resolved"
for dir in "$here/k8s/base" "$here"/k8s/overlays/*/; do
  name="$(basename "$dir")"
  kubectl kustomize "$dir" >"$out/$name.yaml"
  echo "$name: $(grep -c '^kind:' "$out/$name.yaml") resources rendered"
  "$venv/bin/kubernetes-validate" --strict --quiet -k "$version" "$out/$name.yaml"
  # What the schemas cannot say: every container of a service runs restricted,
  # and every service Deployment is probed natively over gRPC.
  for kind_check in "readOnlyRootFilesystem: true" "allowPrivilegeEscalation: false"; do
    containers="$(grep -c '^ *image: ' "$out/$name.yaml")"
    found="$(grep -c "$kind_check" "$out/$name.yaml")"
    [ "$found" -ge "$containers" ] || { echo "$name: $containers containers but $found with $kind_check" >&2; exit 1; }
  done
  deployments="$(grep -c '^kind: Deployment' "$out/$name.yaml")"
  probes="$(grep -c '^ *readinessProbe:' "$out/$name.yaml")"
  grpc="$(grep -A4 'readinessProbe:' "$out/$name.yaml" | grep -c '^ *grpc:')"
  [ "$probes" -eq "$deployments" ] && [ "$grpc" -eq "$deployments" ] \
    || { echo "$name: $deployments Deployments, $grpc with a gRPC readiness probe" >&2; exit 1; }
  checks="--capacity"
  [ "$name" = base ] || checks="--capacity --posture --self-test"
  echo "$name: $checks"
  # shellcheck disable=SC2086 # the checks are separate words
  "$venv/bin/python" "$here/posture.py" $checks "$out/$name.yaml" || { echo "$name: posture or capacity does not hold" >&2; exit 1; }
done
echo "the manifests render and validate"
