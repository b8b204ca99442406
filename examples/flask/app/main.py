import sys

import flask
from flask import Flask

app = Flask(__name__)


@app.route("/")
def hello():
    return "Hello from Flask %s on Python %d.%d" % ((flask.__version__,) + sys.version_info[:2])
