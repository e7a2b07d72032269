#!/bin/sh
# The image's entry point: Docker secrets become the variables tracker and libpq read, then the
# command runs. A variable already set wins over its secret file.
#   postgres_password   -> PGPASSWORD (libpq uses it when the database URL has no password)
#   tracker_secret_key  -> TRACKER_SECRET_KEY (Fernet key(s): webhook secrets encrypted at rest)
# With TRACKER_REQUIRE_SECRET_KEY=1 (docker-compose.yml) nothing starts without a key.
set -eu
secrets="${TRACKER_SECRETS_DIR:-/run/secrets}"
if [ -z "${PGPASSWORD:-}" ] && [ -r "$secrets/postgres_password" ]; then
    PGPASSWORD="$(cat "$secrets/postgres_password")"
    export PGPASSWORD
fi
if [ -z "${TRACKER_SECRET_KEY:-}" ] && [ -r "$secrets/tracker_secret_key" ]; then
    TRACKER_SECRET_KEY="$(cat "$secrets/tracker_secret_key")"
    export TRACKER_SECRET_KEY
fi
if [ "${TRACKER_REQUIRE_SECRET_KEY:-0}" = "1" ] && [ -z "${TRACKER_SECRET_KEY:-}" ]; then
    echo "tracker: error: no TRACKER_SECRET_KEY: make one with 'tracker secrets generate-key'" \
         "and put it in the tracker_secret_key secret (docs/operations.md)" >&2
    exit 1
fi
exec "$@"
