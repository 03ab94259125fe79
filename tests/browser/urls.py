"""The app's URLs plus the pages in tests.browser.views (``@pytest.mark.urls("tests.browser.urls")``)."""

from django.urls import path

from config.urls import urlpatterns as app_urlpatterns

from . import views

urlpatterns = [
    *app_urlpatterns,
    path("browser-test/frameable/", views.frameable),
    path("browser-test/set-cookie/", views.set_cookie),
    path("browser-test/cookies/", views.cookie_echo),
]
