from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from icelab.media import media

urlpatterns = [
    path("admin/", admin.site.urls),
    # Generated files (stimuli, plots, reports) in every mode, not only under DEBUG.
    path(f"{settings.MEDIA_URL.strip('/')}/<path:name>", media, name="media"),
    path("s/", include("studies.urls")),
]
