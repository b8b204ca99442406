import sys

import django
from django.http import HttpResponse
from django.templatetags.static import static

from visits.models import Visit

PAGE = """<!DOCTYPE html>
<html><head><title>Django</title><link rel="stylesheet" href="%s"></head>
<body><p>Hello from Django %s on Python %d.%d</p></body></html>
"""


def hello(request):
    return HttpResponse(PAGE % ((static("visits/style.css"), django.get_version()) + sys.version_info[:2]))


def visits(request):
    """Records a visit in the database and says how many there were."""
    Visit.objects.create()
    return HttpResponse("visit %d\n" % Visit.objects.count(), content_type="text/plain")
