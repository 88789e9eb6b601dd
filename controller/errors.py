"""The one error type for what a caller did wrong: a stable code, an HTTP status and a sentence.

Services raise it; one exception handler (app.py) turns it into `{"detail", "code", "field"}`, so
routers do not translate exceptions by hand and the console can say each code in its own words.
"""

from __future__ import annotations


class DomainError(ValueError):
    """Something a caller asked cannot be done; code is stable, message says why in English.

    field names the request field at fault, where there is one; retry_after_s, when set, is sent as
    `Retry-After`.
    """

    retry_after_s: int | None = None

    def __init__(self, code: str, message: str, status: int = 409, field: str | None = None,
                 retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.field = field
        if retry_after_s is not None:
            self.retry_after_s = retry_after_s

    def headers(self) -> dict[str, str] | None:
        """Headers the answer carries besides its body (Retry-After when set)."""
        return None if self.retry_after_s is None else {"Retry-After": str(self.retry_after_s)}

    def body(self) -> dict[str, object]:
        """The answer's JSON body."""
        body: dict[str, object] = {"detail": self.message, "code": self.code}
        if self.field is not None:
            body["field"] = self.field
        return body
