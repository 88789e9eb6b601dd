"""How the API answers an error: every answer carries a stable `code` (and `field` where one field is
at fault), so the console can say it in its own words next to the field.

DomainError carries its own code. The other errors get one here: a request that fails validation
(`invalid_input`, and a code per item by the kind of mistake), Starlette's own refusals (by status), a
value the database cannot store, and an internal error.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from loalang_protocol.mqtt import AckTimeout, NotConnected
from loalang_protocol.slugs import InvalidSlug

from .. import redis_client
from ..errors import DomainError

log = logging.getLogger(__name__)

INVALID_INPUT = "invalid_input"
VALUE_NOT_STORABLE = "value_not_storable"
INTERNAL_ERROR = "internal_error"
BROKER_UNREACHABLE = "broker_unreachable"
BROKER_RETRY_AFTER_S = 5
BAD_VALUE = "bad_value"
BAD_ID = "bad_id"
REQUEST_REFUSED = "request_refused"
MAX_DETAILS = 20

VALIDATION_CODES: Mapping[str, str] = {
    "missing": "missing", "string_too_long": "too_long", "too_long": "too_long",
    "string_too_short": "too_short", "too_short": "too_short", "string_pattern_mismatch": "bad_format",
    "int_parsing": "not_a_number", "int_type": "not_a_number", "float_parsing": "not_a_number",
    "float_type": "not_a_number", "int_from_float": "not_a_whole_number", "finite_number": "not_a_number",
    "greater_than": "out_of_range", "greater_than_equal": "out_of_range", "less_than": "out_of_range",
    "less_than_equal": "out_of_range", "literal_error": "not_a_choice", "enum": "not_a_choice",
    "bool_parsing": "not_yes_or_no", "bool_type": "not_yes_or_no",
    "datetime_parsing": "bad_time", "datetime_type": "bad_time", "datetime_from_date_parsing": "bad_time",
    "date_parsing": "bad_time", "date_type": "bad_time", "date_from_datetime_parsing": "bad_time",
    "time_parsing": "bad_time", "timezone_aware": "time_without_offset", "json_invalid": "bad_json",
    "extra_forbidden": "unknown_field", "string_type": "wrong_type", "list_type": "wrong_type",
    "dict_type": "wrong_type", "model_attributes_type": "wrong_type", "model_type": "wrong_type",
    "string_unicode": "wrong_type",
}
"""pydantic's error types, each with the code of the kind of mistake (others: `bad_value`)."""

STATUS_CODES: Mapping[int, str] = {
    400: "bad_request", 401: "not_authenticated", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 413: "too_large", 415: "unsupported_media_type", 429: "too_many_requests",
    503: "unavailable",
}
"""Starlette's own refusals (no route, wrong method, unreadable body...), each status with its code."""


def handler_codes() -> set[str]:
    """Every code these handlers can answer with (besides the codes DomainErrors carry)."""
    return {INVALID_INPUT, VALUE_NOT_STORABLE, INTERNAL_ERROR, BAD_VALUE, BAD_ID, REQUEST_REFUSED,
            BROKER_UNREACHABLE, *VALIDATION_CODES.values(), *STATUS_CODES.values()}


def item_code(error: Mapping[str, Any]) -> str:
    """The code of one validation mistake: by pydantic's type, or the code a validator's error carries."""
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, DomainError):
        return cause.code
    if isinstance(cause, InvalidSlug):
        return BAD_ID
    return VALIDATION_CODES.get(str(error.get("type", "")), BAD_VALUE)


def field_of(error: Mapping[str, Any]) -> str | None:
    """The request field a mistake is about: the one its validator's error names, else the one its
    location points at (after `body`, `query`...), or None."""
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, DomainError) and cause.field:
        return cause.field
    names = [part for part in list(error.get("loc", ()))[1:] if isinstance(part, str)]
    return names[0] if names else None


def validation_detail(error: Mapping[str, Any]) -> dict[str, object]:
    """Where and what is wrong, with its code, without echoing the input (it may be huge or secret)."""
    return {"loc": list(error.get("loc", ())), "msg": str(error.get("msg", ""))[:300],
            "type": str(error.get("type", "")), "code": item_code(error)}


def validation_answer(errors: list[Mapping[str, Any]]) -> dict[str, object]:
    """The body of a 422 for invalid input: the details, `invalid_input` and the first field at fault."""
    details = [validation_detail(error) for error in errors]
    body: dict[str, object] = {"detail": details, "code": INVALID_INPUT}
    first = next((field for field in map(field_of, errors) if field), None)
    if first is not None:
        body["field"] = first
    return body


async def invalid_request(request: Request, exc: Exception) -> JSONResponse:
    """422 for a request that does not validate."""
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(validation_answer(list(exc.errors()[:MAX_DETAILS])), status_code=422)


async def refused(request: Request, exc: Exception) -> JSONResponse:
    """A DomainError's status, code, field and headers."""
    assert isinstance(exc, DomainError)
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers())


async def starlette_refusal(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own refusals with a code by status; their English detail is kept."""
    assert isinstance(exc, StarletteHTTPException)
    code = STATUS_CODES.get(exc.status_code, REQUEST_REFUSED)
    return JSONResponse({"detail": exc.detail, "code": code}, status_code=exc.status_code,
                        headers=exc.headers)


async def unstorable_value(request: Request, exc: Exception) -> JSONResponse:
    """422 for a value the database refuses (a NUL character, a number out of its range)."""
    log.info("refused a value the database cannot store on %s %s", request.method, request.url.path)
    return JSONResponse({"detail": "a value cannot be stored (for example a NUL character or a number out "
                                   "of range)", "code": VALUE_NOT_STORABLE}, status_code=422)


async def broker_unreachable(request: Request, exc: Exception) -> JSONResponse:
    """503 when the broker is down or does not acknowledge: nothing was sent, try again shortly."""
    log.warning("broker unreachable on %s %s: %s", request.method, request.url.path, exc)
    return JSONResponse({"detail": "the broker cannot be reached just now; nothing was sent, try again "
                                   "in a moment", "code": BROKER_UNREACHABLE}, status_code=503,
                        headers={"Retry-After": str(BROKER_RETRY_AFTER_S)})


async def internal_error(request: Request, exc: Exception) -> JSONResponse:
    """500 without a trace for the caller; the trace goes to the log."""
    log.exception("internal error on %s %s", request.method, request.url.path)
    return JSONResponse({"detail": "internal error", "code": INTERNAL_ERROR}, status_code=500)


def install(app: FastAPI) -> None:
    """Give the application every error handler."""
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(DomainError, refused)
    app.add_exception_handler(StarletteHTTPException, starlette_refusal)
    for unreachable in redis_client.UNREACHABLE:
        app.add_exception_handler(unreachable, redis_client.answer_unreachable)
    app.add_exception_handler(DataError, unstorable_value)
    for away in (NotConnected, AckTimeout):
        app.add_exception_handler(away, broker_unreachable)
    app.add_exception_handler(Exception, internal_error)
