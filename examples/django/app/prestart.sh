#!/bin/sh
# Runs before nginx and uWSGI start, at every start: the database's migrations, on SQLite in
# /var/lib/app (the app's data directory). Run as root, what it makes there becomes the app's
# user's; run as another user (docker run --user), that user must be able to write there.
set -e
python /app/manage.py migrate --noinput
