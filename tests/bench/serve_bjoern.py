"""bjoern serving the bench app on a unix socket, in N processes sharing it (bjoern itself is
one process, one thread): python serve_bjoern.py unix:/path N"""
import os
import sys

import bjoern

sys.path.insert(0, "/bench/app")
import main  # noqa: E402

os.umask(0)
bjoern.listen(main.application, sys.argv[1])
for _ in range(int(sys.argv[2]) - 1):
    if os.fork() == 0:
        break
bjoern.run()
