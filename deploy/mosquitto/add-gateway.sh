#!/usr/bin/env bash
# Give a gateway its MQTT account: add-gateway.sh GATEWAY_ID [DYNSEC_FILE]
# (a collector: dynsec_users.py add-collector NAME). Prints the generated password once; put it in the
# gateway's /etc/default/firefleet-edge as FIREFLEET_BROKER=mqtts://GATEWAY_ID:PASSWORD@broker.example:8883
set -euo pipefail
id=${1:?usage: add-gateway.sh GATEWAY_ID [DYNSEC_FILE]}
file=${2:-/var/lib/mosquitto/dynamic-security.json}
exec python3 "$(dirname "$0")/dynsec_users.py" add-gateway "$id" --file "$file"
