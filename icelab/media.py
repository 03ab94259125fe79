"""Serving generated files from Django's storage, with DEBUG on or off.

Stimulus images are what participants see, so ``stimuli/`` is public; their names are
content hashes (``stimuli/<sha256>.png``), so a name never changes meaning and they are
cached for a year. Everything else in storage (fidelity plots, reports, manifests) is
for researchers: staff only, never cached by shared caches. A storage that is not on
this machine (S3 and the like) serves its own URLs, and this view is not reached.
"""

from __future__ import annotations

import mimetypes
import re

from django.core.exceptions import SuspiciousFileOperation
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest
from django.views.decorators.http import require_safe

PUBLIC_PREFIX = "stimuli/"
_CONTENT_HASHED = re.compile(r"^stimuli/[0-9a-f]{64}\.png$")
IMMUTABLE = "public, max-age=31536000, immutable"


@require_safe
def media(request: HttpRequest, name: str) -> FileResponse:
    """The stored file ``name``: public under ``stimuli/``, staff-only elsewhere."""
    is_public = name.startswith(PUBLIC_PREFIX)
    if not is_public and not (request.user.is_authenticated and request.user.is_staff):
        raise Http404("No such file.")  # not 403: do not confirm that a private file exists
    try:
        if not default_storage.exists(name):
            raise Http404("No such file.")
        handle = default_storage.open(name, "rb")
    except (SuspiciousFileOperation, OSError, ValueError):
        raise Http404("No such file.") from None
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    response = FileResponse(handle, content_type=content_type)
    if _CONTENT_HASHED.match(name):
        response["Cache-Control"] = IMMUTABLE
    else:
        response["Cache-Control"] = "private, no-cache" if not is_public else "public, max-age=300"
    response["X-Content-Type-Options"] = "nosniff"
    return response
