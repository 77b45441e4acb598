"""``tune-jobs dashboard``: a local web app over results directories (Starlette on uvicorn; the
charts are Plotly's, its JavaScript served from the installed package, so it works offline).

Pages are static HTML and one script that asks the JSON endpoints every 2 s and redraws in
place: a running job's table and curves grow without a reload. It binds to 127.0.0.1 unless
``host`` says otherwise; on another interface it requires ``TUNE_JOBS_DASHBOARD_TOKEN`` (honoured
on loopback too when set), presented as a Bearer header or as ``?token=`` once, which sets an
HttpOnly cookie. Access logs are off, so a
token in a URL is never written anywhere.
"""

from __future__ import annotations

import html
import math
import os
import secrets
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import quote

from tune_jobs.core.network import is_loopback
from tune_jobs.dashboard.views import JobViews, job_directories, job_summary
from tune_jobs.errors import UserError

TOKEN_VARIABLE = "TUNE_JOBS_DASHBOARD_TOKEN"
COOKIE = "tune_jobs_dashboard"
STATIC = Path(__file__).parent / "static"
REFRESH_MS = 2000


def dashboard_token(host: str) -> str | None:
    """The token browsers must present: ``TUNE_JOBS_DASHBOARD_TOKEN`` when set (a shared machine's
    loopback too), required off loopback (``UserError`` without one)."""
    token = os.environ.get(TOKEN_VARIABLE, "").strip()
    if not token and not is_loopback(host):
        raise UserError([f"--host: {host} is reachable from other machines; set {TOKEN_VARIABLE} to a secret "
                         "(at least 16 characters) that browsers must present, or serve on 127.0.0.1"])
    if token and len(token) < 16:
        raise UserError([f"{TOKEN_VARIABLE}: at least 16 characters, got {len(token)}"])
    return token or None


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def create_app(root: str, token: str | None = None) -> Any:
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.middleware.base import BaseHTTPMiddleware
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
    from starlette.routing import Route

    views = JobViews()
    page = Template((STATIC / "page.html").read_text())
    assets: dict[str, tuple[str, str]] = {}

    def jobs() -> dict[str, str]:
        """Job key (its directory's name) -> directory, looked up again on each request: new jobs appear."""
        return {Path(d.rstrip("/")).name: d for d in job_directories(root)}

    def directory_of(key: str) -> str:
        found = jobs().get(key)
        if found is None:
            raise UserError([f"no job {key} under {root}"])
        return found

    def render(kind: str, title: str, **keys: str) -> HTMLResponse:
        data = " ".join(f'data-{k}="{html.escape(v, quote=True)}"' for k, v in keys.items())
        return HTMLResponse(page.substitute(kind=kind, title=html.escape(title), data=data, refresh=REFRESH_MS))

    def answer(build: Any) -> Response:
        try:
            return JSONResponse(_json_safe(build()))
        except UserError as error:
            return JSONResponse({"error": error.problems[0]}, status_code=404)

    def jobs_page(request: Request) -> Response:
        return render("jobs", f"tune-jobs: {root}")

    def job_page(request: Request) -> Response:
        key = request.path_params["job"]
        return render("job", f"{key} - tune-jobs", job=key)

    def trial_page(request: Request) -> Response:
        key, trial_id = request.path_params["job"], request.path_params["trial"]
        return render("trial", f"{trial_id} of {key} - tune-jobs", job=key, trial=trial_id)

    def jobs_api(request: Request) -> Response:
        return answer(lambda: [{**job_summary(d), "key": key} for key, d in jobs().items()])

    def job_api(request: Request) -> Response:
        return answer(lambda: views.job(directory_of(request.path_params["job"])))

    def trial_api(request: Request) -> Response:
        return answer(lambda: views.trial(directory_of(request.path_params["job"]), request.path_params["trial"]))

    def asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in assets:
            if name == "plotly.min.js":
                from plotly.offline import get_plotlyjs

                assets[name] = (get_plotlyjs(), "application/javascript")
            elif name in ("dashboard.js", "dashboard.css"):
                kind = "application/javascript" if name.endswith(".js") else "text/css"
                assets[name] = ((STATIC / name).read_text(), kind)
            else:
                return PlainTextResponse("not found", status_code=404)
        text, kind = assets[name]
        return Response(text, media_type=kind, headers={"Cache-Control": "max-age=3600"})

    class TokenCheck(BaseHTTPMiddleware):
        async def dispatch(self, request: Request, call_next: Any) -> Response:
            if token is None:
                return await call_next(request)
            given = request.query_params.get("token")
            if given is not None and secrets.compare_digest(given, token):
                clean = request.url.remove_query_params("token")
                response = RedirectResponse(str(clean), status_code=303)
                response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
                return response
            offered = request.cookies.get(COOKIE) or request.headers.get("authorization", "").removeprefix("Bearer ").strip()
            if offered and secrets.compare_digest(offered, token):
                return await call_next(request)
            return PlainTextResponse(f"a token is required: open this page with ?token=<{TOKEN_VARIABLE}>", status_code=401)

    routes = [Route("/", jobs_page), Route("/job/{job}", job_page), Route("/job/{job}/trial/{trial}", trial_page),
              Route("/api/jobs", jobs_api), Route("/api/job/{job}", job_api), Route("/api/job/{job}/trial/{trial}", trial_api),
              Route("/static/{name}", asset)]
    return Starlette(routes=routes, middleware=[Middleware(TokenCheck)])


def serve(root: str, host: str = "127.0.0.1", port: int = 8080, token: str | None = None) -> None:
    import uvicorn

    uvicorn.run(create_app(root, token), host=host, port=port, access_log=False, log_level="warning")


def url_of(host: str, port: int, key: str | None = None) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/" + (f"job/{quote(key)}" if key else "")


__all__ = ["create_app", "dashboard_token", "serve", "url_of"]
