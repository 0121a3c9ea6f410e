#!/usr/bin/env bash
# Generates Python stubs from proto/ with grpcio-tools and runs portal.py
# against a running suite (`socialloans up`). Arguments are passed to portal.py;
# without them, the local suite's defaults and fresh development tokens are used.
#
#   clients/python/run.sh            # after `cargo run --bin socialloans -- up`
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${PYTHON_VENV:-$here/.venv}"
gen="$here/.generated"

[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"

rm -rf "$gen" && mkdir -p "$gen"
(cd "$root/proto" && "$venv/bin/python" -m grpc_tools.protoc -I . \
  --python_out="$gen" --grpc_python_out="$gen" $(find socialloans -name '*.proto' | sort))

if [ "$#" -eq 0 ]; then
  offset="${SOCIALLOANS_PORT_OFFSET:-0}"
  token() { "${SOCIALLOANS_BIN:-$root/target/debug/socialloans}" token "$@"; }
  set -- --applications "127.0.0.1:$((50051 + offset))" --monitoring "127.0.0.1:$((50053 + offset))" \
    --borrower-token "$(token borrower 212000-0142)" --analyst-token "$(token analyst)" --org 212000-0142
fi
PYTHONPATH="$gen" exec "$venv/bin/python" "$here/portal.py" "$@"
