"""Django 1.11 (Python 2.7) and 5.2 (Python 3) alike."""
import os

BASE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The app's data directory: its user's (uwsgi) to write, and what the prestart hook makes there.
# Mount a volume there to keep it.
DATA_DIR = os.environ.get("APP_DATA_DIR", "/var/lib/app")

# Give your own in production: docker run -e DJANGO_SECRET_KEY=...
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "insecure-example-key-set-DJANGO_SECRET_KEY")
DEBUG = os.environ.get("DJANGO_DEBUG") == "1"
# The host names the site answers to: docker run -e DJANGO_ALLOWED_HOSTS=example.org,www.example.org
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1").split(",")

INSTALLED_APPS = ["django.contrib.staticfiles", "visits"]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "mysite.urls"
WSGI_APPLICATION = "mysite.wsgi.application"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.path.join(DATA_DIR, "db.sqlite3"),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
USE_TZ = True

# collectstatic (in the Dockerfile) copies every app's static files to STATIC_ROOT; nginx serves
# that directory at STATIC_URL (the image's STATIC_PATH and STATIC_URL: /app/static at /static).
STATIC_URL = "/static/"
STATIC_ROOT = os.path.join(BASE_DIR, "static")

# Errors to stderr, which docker logs shows (Django mails them to ADMINS otherwise).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
