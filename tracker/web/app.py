"""The ASGI application: ``create_web_app(App)`` for ``tracker serve`` and ``tracker run --serve``.

Read-only. Every response carries the security headers (a strict Content-Security-Policy with
no inline script or style, ``nosniff``, ``frame-ancestors 'none'``, no referrer) and a
``Server-Timing`` header with the time the server spent, which the benchmark reads. Handlers are
plain functions, run in the server's thread pool, each with its own read session.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tracker import __version__, metrics
from tracker.app import App
from tracker.clock import display_zone
from tracker.diffstore import DiffCache
from tracker.errors import TrackerError
from tracker.web import api, atom, pages
from tracker.web.readmodel import BadRequest, NotFound, WebContext, readiness
from tracker.web.templating import STATIC, environment

# Images: a reader may load a tracked site's lead image on a click (or with the setting), so
# remote images are allowed; nothing on a page asks for one unless the reader did.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: http: https:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


class SecurityHeaders:
    """Adds the security headers and ``Server-Timing`` to every HTTP response (a plain ASGI
    middleware: cheaper than Starlette's BaseHTTPMiddleware, and it streams)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                taken = (time.perf_counter() - started) * 1000
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in SECURITY_HEADERS if n not in present]
                if b"server-timing" not in present:
                    extra.append((b"server-timing", f"app;dur={taken:.2f}".encode()))
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def secured_web_app(tracker_app: App | None = None) -> ASGIApp:
    """``create_web_app`` wrapped once more in ``SecurityHeaders``, outside Starlette's own error
    middleware, so that even a 500 carries the headers. What the server runs."""
    return SecurityHeaders(create_web_app(tracker_app))


def create_web_app(tracker_app: App | None = None, *, cache: DiffCache | None = None) -> FastAPI:
    tracker_app = tracker_app or App()
    web = FastAPI(
        title="tracker", version=__version__, docs_url=None, redoc_url=None,
        openapi_url="/api/v1/openapi.json",
        description="Read-only HTTP API of tracker: articles, versions, changes and diffs. "
        "See docs/api.md.",
    )
    web.state.ctx = WebContext(tracker_app, cache or DiffCache(), display_zone(),
                               load_images=tracker_app.settings.web_load_images)
    web.add_middleware(SecurityHeaders)
    web.mount("/static", StaticFiles(directory=STATIC), name="static")
    web.include_router(pages.router)
    web.include_router(api.router)
    web.include_router(atom.router)
    web.add_api_route("/healthz", healthz, methods=["GET"], include_in_schema=False)
    web.add_api_route("/readyz", readyz, methods=["GET"], include_in_schema=False)
    web.add_api_route("/metrics", metrics_page, methods=["GET"], include_in_schema=False)
    web.add_exception_handler(NotFound, _not_found)
    web.add_exception_handler(BadRequest, _bad_request)
    web.add_exception_handler(TrackerError, _bad_request)
    web.add_exception_handler(RequestValidationError, _invalid)
    web.add_exception_handler(HTTPException, _http_error)
    return web


def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


def readyz(request: Request) -> JSONResponse:
    """The database answers and its schema is the newest (503 otherwise)."""
    ctx: WebContext = request.app.state.ctx
    try:
        state = readiness(ctx)
    except SQLAlchemyError as exc:  # any database failure means "not ready", in one line
        return JSONResponse({"status": "unavailable", "error": type(exc).__name__}, 503)
    ready = state["current"]
    return JSONResponse({"status": "ok" if ready else "unavailable", **state},
                        200 if ready else 503)


def metrics_page(request: Request) -> Response:
    """Prometheus metrics of this process (in multiprocess mode: of all that share its
    directory) and the backlog read from the database (docs/operations.md)."""
    ctx: WebContext = request.app.state.ctx
    return Response(metrics.exposition(ctx.app), media_type=metrics.CONTENT_TYPE_LATEST)


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def error_response(request: Request, status: int, message: str) -> Response:
    if _wants_json(request):
        return JSONResponse({"error": message}, status)
    reasons = {400: "Bad request", 404: "Not found", 405: "Method not allowed"}
    html = environment().get_template("error.html").render(
        status=status, reason=reasons.get(status, "Error"), message=message,
        zone_name=str(request.app.state.ctx.zone), nav=None,
    )
    return HTMLResponse(html, status)


async def _not_found(request: Request, exc: Any) -> Response:
    return error_response(request, 404, str(exc))


async def _bad_request(request: Request, exc: Any) -> Response:
    return error_response(request, 400, str(exc))


async def _invalid(request: Request, exc: Any) -> Response:
    problems = [
        f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'request'}: {e.get('msg', 'invalid')}"
        for e in exc.errors()
    ]
    return error_response(request, 400, "; ".join(problems) or "invalid request")


async def _http_error(request: Request, exc: Any) -> Response:
    detail = exc.detail if isinstance(exc.detail, str) else "not found"
    return error_response(request, exc.status_code, detail)
