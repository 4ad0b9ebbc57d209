"""HTTP: the project page (HTML) and the index of projects, behind the function key like the status route it
draws; where App Service authentication runs in front of the app, a person must also be signed in (else they are
sent to sign in, and back)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from html import escape
from urllib.parse import quote, urlsplit

import azure.functions as func

from function_app.approvals import signed_in
from function_app.bootstrap import services
from function_app.http_input import Refused, name_param
from function_app.responses import json_response
from function_app.slow_storage import Unavailable, read_within
from shared.pipeline.project_view import ProjectView
from shared.project_page import CONTENT_SECURITY_POLICY, index_page, project_page, releases_page

bp = func.Blueprint()


def _html(page: str, status: int = 200) -> func.HttpResponse:
    return func.HttpResponse(page, status_code=status, mimetype="text/html", charset="utf-8",
                             headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
                                      "X-Frame-Options": "DENY", "Content-Security-Policy": CONTENT_SECURITY_POLICY})


def _whole(req: func.HttpRequest, name: str, default: int, top: int) -> int:
    try:
        value = int(req.params.get(name, str(default)))
    except ValueError:
        value = 0
    if not 1 <= value <= top:
        raise Refused(400, f"{name}: a whole number from 1 to {top}")
    return value


@bp.function_name("projects")
@bp.route(route="projects/{project?}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def projects(req: func.HttpRequest) -> func.HttpResponse:
    wired = services()
    if wired.settings.auth_enabled and signed_in(req) is None:
        return _sign_in(req)
    view = ProjectView(wired.project_status())
    try:
        read = _reader(req, view)
        return _html(read_within(read, wired.settings.request_timeout_seconds, "projects"))
    except Refused as exc:
        return _html(_message("Refused", exc.reason), exc.status)
    except Unavailable as exc:
        return _html(_message("Unavailable", exc.reason), 503)


@bp.function_name("releases")
@bp.route(route="releases/{project}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def releases(req: func.HttpRequest) -> func.HttpResponse:
    """The project's release records, newest first: a page, or JSON for `Accept: application/json`."""
    wired = services()
    if wired.settings.auth_enabled and signed_in(req) is None:
        return _sign_in(req)
    view = ProjectView(wired.project_status())
    try:
        project = name_param(req, "project")
        found = read_within(lambda: view.releases(project), wired.settings.request_timeout_seconds, "releases")
    except Refused as exc:
        return _html(_message("Refused", exc.reason), exc.status)
    except Unavailable as exc:
        return _html(_message("Unavailable", exc.reason), 503)
    if "application/json" in req.headers.get("Accept", ""):
        return json_response(found, 200)
    return _html(releases_page(found))


def _sign_in(req: func.HttpRequest) -> func.HttpResponse:
    here = urlsplit(req.url)
    back = quote(f"{here.path}?{here.query}" if here.query else here.path, safe="")
    return func.HttpResponse(status_code=302, headers={"Location": f"/.auth/login/aad?post_login_redirect_uri={back}",
                                                       "Cache-Control": "no-store"})


def _reader(req: func.HttpRequest, view: ProjectView) -> Callable[[], str]:
    """What to render: one project's page (`?page=N` of its runs) or the index (`?after=NAME&limit=N`)."""
    if req.route_params.get("project") is not None:
        project, page = name_param(req, "project"), _whole(req, "page", 1, 1_000_000)
        return lambda: project_page(view.project(project, page))
    after, limit = req.params.get("after", ""), _whole(req, "limit", 50, 200)
    return lambda: index_page(view.index(after, limit), datetime.now(UTC).isoformat(timespec="seconds"))


def _message(title: str, text: str) -> str:
    return f"<!doctype html><html lang=en><title>{title}</title><p>{escape(text)}</p></html>"
