"""The simulator's API errors: the v1 error body's fields, raised anywhere below the routes."""

from __future__ import annotations

from typing import Any

from catapult_nb.engine import CallStateError
from catapult_nb.errors import Error

__all__ = ["ApiError", "invalid_state", "validation_error"]


class ApiError(Error):
    """A client mistake or refused action, answered with the v1 error body."""

    def __init__(self, status: int, category: str, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status = status
        self.category = category
        self.code = code
        self.message = message
        self.details = details


def validation_error(resource: str, prop: str, message: str) -> ApiError:
    return ApiError(
        400, "bad-request", "validation-error",
        f"The '{resource}' resource property '{prop}' is invalid: {message}", property=prop,
    )


def invalid_state(exc: CallStateError) -> ApiError:
    """The 403 ``call-invalid-state`` for an engine refusal."""
    return ApiError(403, "authorization", "call-invalid-state", str(exc), callId=exc.call_id)
