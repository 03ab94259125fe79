from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from icelab import health
from icelab.media import media
from icelab.ratelimits import limit_failed_logins

urlpatterns = [
    # Before admin/: the same login view, refusing an address after repeated failures.
    path("admin/login/", limit_failed_logins(admin.site.login), name="admin-login"),
    path("admin/", admin.site.urls),
    # Generated files (stimuli, plots, reports) in every mode, not only under DEBUG.
    path(f"{settings.MEDIA_URL.strip('/')}/<path:name>", media, name="media"),
    path("health/live", health.live, name="health-live"),
    path("health/ready", health.ready, name="health-ready"),
    path("s/", include("studies.urls")),
]
