"""Errors the simulated services answer with, in each service's own body shape."""

from __future__ import annotations

import time
from typing import Any


class ApiError(Exception):
    """An error of a Flask-based Wazo service: ``{message, error_id, details, timestamp[, resource]}``.

    (xivo-lib-python: rest_api_helpers.py, reference wazo-api.md §1.3). Messages never carry secrets.
    """

    def __init__(
        self,
        status: int,
        error_id: str,
        message: str,
        details: dict[str, Any] | None = None,
        resource: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_id = error_id
        self.message = message
        self.details = details or {}
        self.resource = resource

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "message": self.message,
            "error_id": self.error_id,
            "details": self.details,
            "timestamp": time.time(),
        }
        if self.resource is not None:
            body["resource"] = self.resource
        return body


def unauthorized() -> ApiError:
    return ApiError(401, "unauthorized", "Unauthorized")


def no_such_call(call_id: str) -> ApiError:
    return ApiError(404, "no-such-call", "No such call", {"call_id": call_id})


def invalid_data(details: dict[str, Any]) -> ApiError:
    return ApiError(400, "invalid-data", "Sent data is invalid", details)
