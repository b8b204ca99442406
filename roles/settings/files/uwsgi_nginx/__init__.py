"""The settings contract (settings.py), one part of the image's start-time package uwsgi_nginx;
the entrypoint role's files hold the rest. In the image both are installed into one directory;
elsewhere (Ansible's filters, the unit tests) each part is found where it lies."""
__path__ = __import__("pkgutil").extend_path(__path__, __name__)
