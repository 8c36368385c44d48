"""The API's error handler: every error as JSON (UI pages: ``tarmac.ui.route_class``)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tarmac.errors import TarmacError
from tarmac.metrics import TarmacMetrics

_HTTP_CODES = {401: "unauthenticated", 403: "permission_denied", 404: "not_found"}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(TarmacError)
    async def _tarmac_error(request: Request, exc: TarmacError) -> JSONResponse:
        if exc.status < 500:
            _count_refusal(request, exc.code)
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse(exc.to_body(), status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {
                "field": "body"
                if err.get("type") == "json_invalid"
                else ".".join(str(p) for p in err.get("loc", ()) if p != "body"),
                "problem": err.get("msg", "invalid"),
            }
            for err in exc.errors()
        ]
        first = problems[0] if problems else {"field": "", "problem": "invalid request"}
        message = f"{first['field'] or 'request'}: {first['problem']}"
        _count_refusal(request, "invalid_request")
        body = {"error": {"code": "invalid_request", "message": message, "problems": problems}}
        return JSONResponse(body, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc.__cause__, TarmacError):
            # FastAPI wraps errors raised while it parses a body (e.g. the upload limit).
            return await _tarmac_error(request, exc.__cause__)
        code = _HTTP_CODES.get(exc.status_code, "invalid_request")
        if exc.status_code == 405:
            code = "method_not_allowed"
        _count_refusal(request, code)
        body = {"error": {"code": code, "message": str(exc.detail)}}
        return JSONResponse(body, status_code=exc.status_code)


def _count_refusal(request: Request, code: str) -> None:
    app_metrics: TarmacMetrics | None = getattr(request.app.state, "metrics", None)
    if app_metrics is not None:
        app_metrics.count_refusal(code=code)
