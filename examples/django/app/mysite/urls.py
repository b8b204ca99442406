try:
    from django.urls import re_path
except ImportError:  # Django 1.11
    from django.conf.urls import url as re_path

from visits import views

urlpatterns = [
    re_path(r"^$", views.hello),
    re_path(r"^visits/$", views.visits),
]
