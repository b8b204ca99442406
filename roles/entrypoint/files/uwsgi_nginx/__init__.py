"""The image's start-time programs: the settings contract (settings.py), the entrypoint
(entrypoint.py) and the health probe (healthcheck.py). Installed by the entrypoint role."""
