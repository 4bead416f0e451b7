#!/bin/sh
# The image's entry point: puts POSTGRES_PASSWORD into DATABASE_URL, percent-encoded, then runs the command.
#
# Compose gives the postgres image and the services one password. The postgres image takes it as it
# is; in a URL, / @ % ? # : would split it in the wrong places (the services refuse such a URL). So
# Compose gives the services DATABASE_URL without a password (postgres://user@host:port/db) and the
# password on its own, and every byte of it goes into the URL as %XX here. The password variable is
# then removed from the environment the command sees. A DATABASE_URL that already has a password,
# or no POSTGRES_PASSWORD, is left as it is.
set -eu
if [ -n "${POSTGRES_PASSWORD:-}" ] && [ -n "${DATABASE_URL:-}" ]; then
    encoded=$(printf '%s' "$POSTGRES_PASSWORD" | od -An -v -tx1 | tr -d ' \n' | sed 's/../%&/g')
    # Only a user part without a password (no ':' before the '@'); the replacement holds only % and hex digits.
    DATABASE_URL=$(printf '%s' "$DATABASE_URL" | sed "s|^\([a-z]*://[^:@/]*\)@|\1:$encoded@|")
    export DATABASE_URL
fi
unset POSTGRES_PASSWORD
exec "$@"
