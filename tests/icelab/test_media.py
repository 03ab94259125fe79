"""Generated files and static files are served with DEBUG off: participants see their images."""

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image

from explainers.services.stimulus_files import store_png


@pytest.fixture
def media_root(settings, tmp_path):
    settings.DEBUG = False
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def test_a_stimulus_image_is_served_with_debug_off_and_cached_for_a_year(client, media_root):
    name, _ = store_png(Image.new("RGB", (8, 8), (200, 30, 30)))
    url = default_storage.url(name)
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["Cache-Control"] == "public, max-age=31536000, immutable"
    assert b"".join(response.streaming_content).startswith(b"\x89PNG")


def test_researcher_files_are_for_staff_only(client, admin_client, media_root):
    name = default_storage.save("reports/study-1/report.html", ContentFile(b"<h1>results</h1>"))
    url = default_storage.url(name)
    assert client.get(url).status_code == 404  # not even confirmed to exist
    response = admin_client.get(url)
    assert response.status_code == 200 and response["Cache-Control"] == "private, no-cache"


@pytest.mark.parametrize(
    "path", ["/media/stimuli/../secret_key", "/media/stimuli/nothing-here.png", "/media/%2e%2e/x"]
)
def test_a_missing_or_escaping_name_is_a_404(client, media_root, path):
    assert client.get(path).status_code == 404


def test_it_refuses_writes(client, media_root):
    assert client.post("/media/stimuli/x.png").status_code == 405


def test_static_files_are_served_with_debug_off(client, settings):
    settings.DEBUG = False
    response = client.get("/static/admin/css/base.css")
    assert response.status_code == 200
    assert b"".join(response.streaming_content)
