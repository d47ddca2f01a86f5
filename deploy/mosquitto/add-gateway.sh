#!/usr/bin/env bash
# Give a gateway (or the collector) its MQTT credentials: add-gateway.sh GATEWAY_ID [PASSWORD_FILE]
# Prints the generated password once; put it in the gateway's /etc/default/firefleet-edge as
# FIREFLEET_BROKER=mqtts://GATEWAY_ID:PASSWORD@broker.example:8883
set -euo pipefail
id=${1:?usage: add-gateway.sh GATEWAY_ID [PASSWORD_FILE]}
file=${2:-/etc/mosquitto/firefleet.passwd}
case "$id" in *[!a-z0-9-]*) echo "gateway ids are lower-case letters, digits and dashes" >&2; exit 2;; esac
password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
[ -f "$file" ] || { touch "$file"; chmod 600 "$file"; }
mosquitto_passwd -b "$file" "$id" "$password"
echo "$id:$password"
echo "reload the broker to apply: systemctl reload mosquitto" >&2
