"""The API's one error shape: `{"error": {"code", "message"}}`, with the status and headers to send."""

from __future__ import annotations

from inference_common.strict_json import JsonRejected


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    @classmethod
    def rejected_json(cls, rejection: JsonRejected) -> ApiError:
        """strict_json's codes in this API's PascalCase: `json_too_deep` is `JsonTooDeep`."""
        return cls(400, "".join(word.capitalize() for word in rejection.code.split("_")), rejection.message)

    def body(self) -> dict:
        return {"error": {"code": self.code, "message": self.message}}
