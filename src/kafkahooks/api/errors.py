"""The API's errors: one exception, one JSON shape, one place that turns them into answers.

Every error answer is ``{"error": {"status", "code", "message", "errors"?}}`` (``errors``:
a list of ``{"field", "message"}`` for a 422, each field a dotted path into the body).
Invariant: a message never repeats a value from the request (pydantic errors are taken
without their input) nor a secret; 401 is one answer for every token problem, so it
tells a caller nothing about which tokens exist.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from kafkahooks.errors import KafkahooksError

__all__ = [
    "ApiError",
    "ErrorBodyResponses",
    "JsonAnswer",
    "conflict",
    "install_error_handlers",
    "invalid",
    "not_found",
    "unauthorized",
    "validation_errors",
]

# OpenAPI: the error answers every route may give, with their shape
ErrorBodyResponses: dict[int | str, dict[str, Any]] = {
    code: {
        "description": "an error",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    }
    for code in (400, 401, 404, 409, 412, 413, 422, 429, 503)
}


class JsonAnswer(JSONResponse):
    """A JSON answer encoded by orjson (FastAPI's JsonAnswer is deprecated)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


UNAUTHORIZED = "missing, invalid, expired or revoked token"


class ApiError(KafkahooksError):
    """An answer other than success: status, a short code, a message for people."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        errors: Sequence[Mapping[str, str]] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.errors = list(errors)
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"status": self.status, "code": self.code, "message": self.message}
        if self.errors:
            error["errors"] = self.errors
        return {"error": error}


def unauthorized() -> ApiError:
    return ApiError(401, "unauthorized", UNAUTHORIZED, headers={"WWW-Authenticate": "Bearer"})


def not_found(what: str = "no such resource") -> ApiError:
    return ApiError(404, "not_found", what)


def conflict(message: str) -> ApiError:
    return ApiError(409, "conflict", message)


def invalid(field: str, message: str, code: str = "validation") -> ApiError:
    return ApiError(422, code, f"{field}: {message}", errors=[{"field": field, "message": message}])


def validation_errors(exc: ValidationError, prefix: Sequence[str | int] = ()) -> ApiError:
    """A pydantic error as a 422 naming each field's path (input values never shown)."""
    errors = []
    for error in exc.errors(include_input=False, include_url=False):
        loc = [*prefix, *error["loc"]]
        message = str(error["msg"]).removeprefix("Value error, ")
        errors.append({"field": ".".join(str(p) for p in loc) or "body", "message": message})
    first = errors[0] if errors else {"field": "body", "message": "invalid"}
    return ApiError(422, "validation", f"{first['field']}: {first['message']}", errors=errors)


def _answer(error: ApiError) -> JsonAnswer:
    return JsonAnswer(error.body(), status_code=error.status, headers=error.headers)


async def _api_error(_request: Request, exc: Exception) -> JsonAnswer:
    assert isinstance(exc, ApiError)
    return _answer(exc)


async def _http_error(_request: Request, exc: Exception) -> JsonAnswer:
    assert isinstance(exc, StarletteHTTPException)
    codes = {404: "not_found", 405: "method_not_allowed"}
    return _answer(ApiError(exc.status_code, codes.get(exc.status_code, "error"), str(exc.detail)))


async def _request_invalid(_request: Request, exc: Exception) -> JsonAnswer:
    """Query and path parameters FastAPI validated (bodies are parsed by the routes)."""
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": ".".join(str(p) for p in e["loc"]), "message": str(e["msg"])}
        for e in exc.errors()
    ]
    first = errors[0] if errors else {"field": "request", "message": "invalid"}
    message = f"{first['field']}: {first['message']}"
    return _answer(ApiError(422, "validation", message, errors=errors))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _request_invalid)
