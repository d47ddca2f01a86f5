#!/bin/sh
# Make the collectors' role and database on a PostgreSQL server (run once, as a user who may create
# roles, e.g. `sudo -u postgres deploy/postgres/setup.sh`). The collectors make their schema themselves.
#   FIREFLEET_DB (default firefleet), FIREFLEET_DB_USER (default firefleet), FIREFLEET_DB_PASSWORD (asked
#   for when unset; give it to the collectors in --db postgresql://USER:PASSWORD@HOST/DB or ~/.pgpass).
set -eu
db="${FIREFLEET_DB:-firefleet}"
user="${FIREFLEET_DB_USER:-firefleet}"
if [ -z "${FIREFLEET_DB_PASSWORD:-}" ]; then
    printf 'password for %s: ' "$user" >&2
    stty -echo 2>/dev/null || true
    read -r FIREFLEET_DB_PASSWORD
    stty echo 2>/dev/null || true
    echo >&2
fi
psql -v ON_ERROR_STOP=1 -v user="$user" -v db="$db" -v password="$FIREFLEET_DB_PASSWORD" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'user', :'password')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'user') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'user')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
SQL
echo "ready: --db postgresql://$user@HOST/$db" >&2
