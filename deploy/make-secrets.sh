#!/usr/bin/env bash
# Writes, once, the secrets docker-compose.yml needs (it refuses to start without them, and a
# production process refuses placeholders or secrets under 32 bytes):
#   .env                           beside docker-compose.yml, which compose reads: JWT_SECRET,
#                                  SERVICE_SECRET, PAYMENT_WEBHOOK_SECRET, METRICS_TOKEN,
#                                  ADMIN_PASSWORD, HAPROXY_STATS_PASSWORD (32 random bytes each, hex)
#   deploy/prometheus/metrics-token  the same METRICS_TOKEN, for Prometheus's `credentials_file`
#   deploy/alertmanager/metrics-token  and for Alertmanager's, posting alerts to the ops page
# Existing files are kept: delete them to rotate. OUT_DIR writes into another folder (the tests).
set -euo pipefail
root="${OUT_DIR:-$(cd "$(dirname "$0")/.." && pwd)}"
env_file="$root/.env"
token_file="$root/deploy/prometheus/metrics-token"
rand() { od -An -tx1 -N32 /dev/urandom | tr -d ' \n'; }

if [ -e "$env_file" ]; then
  echo "make-secrets: $env_file exists; kept (delete it to rotate)"
else
  (
    umask 077
    {
      echo "JWT_SECRET=$(rand)"
      echo "SERVICE_SECRET=$(rand)"
      echo "PAYMENT_WEBHOOK_SECRET=$(rand)"
      echo "METRICS_TOKEN=$(rand)"
      echo "ADMIN_PASSWORD=$(rand)"
      echo "HAPROXY_STATS_PASSWORD=$(rand)"
    } > "$env_file"
  )
  echo "make-secrets: wrote $env_file (the admin's password and HAProxy's statistics password are in it)"
fi
token=$(grep '^METRICS_TOKEN=' "$env_file" | cut -d= -f2-)
[ -n "$token" ] || { echo "make-secrets: no METRICS_TOKEN in $env_file" >&2; exit 1; }
# Readable by Prometheus's and Alertmanager's container users; keep the folders private on a shared host.
for f in "$token_file" "$root/deploy/alertmanager/metrics-token"; do
  mkdir -p "$(dirname "$f")"
  printf '%s' "$token" > "$f"
  chmod 644 "$f"
  echo "make-secrets: wrote $f"
done
