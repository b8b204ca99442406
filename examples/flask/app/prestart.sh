#!/bin/sh
# Runs before nginx and uWSGI start, at every start (database migrations, say).
echo "prestart: Flask app starting"
