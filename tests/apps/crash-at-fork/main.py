"""An app whose workers die at every start (tests/test_threads.py): each aborts (signal 6) as it
forks, as a worker does on a fatal error in the interpreter or an extension. Python 2.7 and 3."""
import os

if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=os.abort)
else:  # Python 2.7: uWSGI's own post-fork hook
    import uwsgi
    uwsgi.post_fork_hook = os.abort


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"never answered"]
