"""The image's start-time programs: the entrypoint (entrypoint.py), the health probe
(healthcheck.py), the drain (drain.py), one program alone (program.py), with the settings
contract (settings.py, from the settings role). Installed by the entrypoint role."""
__path__ = __import__("pkgutil").extend_path(__path__, __name__)
