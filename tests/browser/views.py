"""Pages that exist only for the browser tests (served through tests.browser.urls).

They stand in for pages framed by another site and setting cookies by script, so they
are exempt from the site's content security policy (no framing, no inline scripts).
"""

from __future__ import annotations

from csp.decorators import csp_exempt
from django.http import HttpRequest, HttpResponse
from django.utils.html import escape
from django.views.decorators.clickjacking import xframe_options_exempt

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><h1>{title}</h1>{body}</body></html>"""


@csp_exempt()
@xframe_options_exempt
def frameable(request: HttpRequest) -> HttpResponse:
    """A page any site may frame, standing in for a study page inside MTurk's iframe."""
    return HttpResponse(_PAGE.format(title="Frameable test page", body="<p id='ok'>ok</p>"))


@csp_exempt()
@xframe_options_exempt
def set_cookie(request: HttpRequest) -> HttpResponse:
    """Sets one cookie by header and one by script."""
    script = "<script>document.cookie = 'from_script=1; path=/';</script>"
    response = HttpResponse(_PAGE.format(title="Cookie setter", body=script))
    response.set_cookie("from_header", "1")
    return response


@csp_exempt()
@xframe_options_exempt
def cookie_echo(request: HttpRequest) -> HttpResponse:
    """Lists the names of the cookies this request carried."""
    names = " ".join(sorted(request.COOKIES)) or "(none)"
    return HttpResponse(
        _PAGE.format(title="Cookie echo", body=f"<p id='cookies'>{escape(names)}</p>")
    )
