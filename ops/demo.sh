#!/usr/bin/env bash
# Install oais and ingest the sample SIP shipped in examples/ with its descriptive metadata (title,
# licence, access status) on the embedded default (SQLite catalog + local directory store under
# $OAIS_HOME), then show the AIP it made.
set -euo pipefail
cd "$(dirname "$0")/.."

bash ops/install.sh
export OAIS_HOME="${OAIS_HOME:-$HOME/.local/share/oais}"
aip=$(.venv/bin/oais ingest examples/omega-orbit-0042 \
        --producer "IAS / OMEGA team" --metadata examples/omega-orbit-0042.metadata.json --json)
echo "$aip"
id=$(printf '%s' "$aip" | .venv/bin/python -c 'import json, sys; print(json.load(sys.stdin)["aip_id"])')
.venv/bin/oais show "$id"
