"""How intake's HTTP API says no: every bad field with a reason in Indonesian and English, `503`
with `Retry-After` while PostgreSQL is away (never a false "accepted"), and every refusal counted
by channel and reason."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import Counter
from pydantic import ValidationError

from services.intake.service import MessageIdReusedError
from shared.db import DATA_ERRORS, DATABASE_UNAVAILABLE
from shared.events import Channel
from shared.idempotency import IdempotencyKeyReusedError

REJECTED = Counter(
    "lapor_hub_intake_submissions_rejected_total",
    "Submissions refused, by channel (operator and import: the operators' entries) and reason",
    ["channel", "reason"],
)
# The entry each submitting route serves: a bounded label set, whatever paths clients try.
SUBMISSION_CHANNELS = {
    "/v1/complaints": Channel.WEB.value,
    "/v1/channels/sms": Channel.SMS.value,
    "/v1/channels/whatsapp": Channel.WHATSAPP.value,
    "/v1/channels/email": Channel.EMAIL.value,
    "/v1/operator/complaints": "operator",
    "/v1/complaints:import": "import",
    "/open311/v2/requests.json": Channel.OPEN311.value,
}
REJECTION_REASONS = {
    400: "bad_request",
    401: "unauthenticated",
    403: "wrong_scope",
    413: "too_large",
    422: "invalid",
    429: "rate_limited",
    503: "database_unavailable",
}

# Indonesian first: most reporters and operators read it.
_INDONESIAN = {
    "missing": "wajib diisi",
    "string_too_short": "terlalu pendek",
    "string_too_long": "terlalu panjang",
    "string_pattern_mismatch": "formatnya tidak sesuai",
    "enum": "pilihan tidak dikenal",
    "literal_error": "pilihan tidak dikenal",
    "extra_forbidden": "kolom ini tidak dikenal",
    "value_error": "nilainya tidak valid",
    "date_from_datetime_parsing": "tanggal tidak valid",
    "date_parsing": "tanggal tidak valid",
    "datetime_parsing": "waktu tidak valid",
    "timezone_aware": "waktu harus dengan zona waktu",
    "url_parsing": "alamat URL tidak valid",
    "too_long": "terlalu banyak",
    "bool_parsing": "harus ya atau tidak",
    "json_invalid": "JSON tidak valid",
    "model_attributes_type": "harus berupa objek",
    "greater_than_equal": "terlalu kecil",
    "less_than_equal": "terlalu besar",
    "unstorable_character": "berisi karakter yang tidak dapat disimpan (U+0000)",
}


def field_errors(errors: list[Any]) -> list[dict[str, Any]]:
    """Pydantic's errors as `{field, reason: {id, en}}`, the field as a dotted path."""
    problems = []
    for error in errors:
        location = [str(part) for part in error["loc"]]
        if location and location[0] in {"body", "query", "header", "path"}:
            location = location[1:]  # where FastAPI found it, not a field name
        problems.append(
            {
                "field": ".".join(location) or "-",
                "reason": {
                    "id": _INDONESIAN.get(error["type"], "nilainya tidak valid"),
                    "en": error["msg"],
                },
            }
        )
    return problems


def _bad_request(errors: list[dict[str, Any]], status: int = 422) -> JSONResponse:
    return JSONResponse(
        {"detail": "Data pengaduan tidak valid / invalid complaint data", "errors": errors},
        status_code=status,
    )


def count_rejection(path: str, status: int) -> None:
    channel = SUBMISSION_CHANNELS.get(path)
    if channel is not None and status >= 400:
        REJECTED.labels(channel, REJECTION_REASONS.get(status, f"http_{status}")).inc()


async def _invalid(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError | ValidationError)
    return _bad_request(field_errors(list(error.errors())))


async def _idempotency_key_reused(request: Request, error: Exception) -> JSONResponse:
    reason = {
        "id": "kunci ini sudah dipakai untuk pengaduan lain",
        "en": "already used with a different complaint",
    }
    return _bad_request([{"field": "Idempotency-Key", "reason": reason}])


async def _message_id_reused(request: Request, error: Exception) -> JSONResponse:
    reason = {
        "id": "nomor pesan ini sudah dipakai untuk pesan lain",
        "en": f"message id {error} was already used with a different message",
    }
    return JSONResponse(
        {
            "detail": "Pesan berbeda dengan nomor yang sama / same message id, different content",
            "errors": [{"field": "message_id", "reason": reason}],
        },
        status_code=409,
    )


async def _database_away(request: Request, error: Exception) -> JSONResponse:
    return JSONResponse(
        {"detail": "Sedang gangguan, coba lagi / storage unavailable, retry later"},
        status_code=503,
        headers={"Retry-After": "5"},
    )


async def _unstorable(request: Request, error: Exception) -> JSONResponse:
    """Data PostgreSQL refused that the models let through: this submission's fault alone (the
    group commit wrote the others), so a 422, never a 500."""
    reason = {"id": "berisi data yang tidak dapat disimpan", "en": "contains unstorable data"}
    return _bad_request([{"field": "-", "reason": reason}])


def add_error_handlers(api: FastAPI) -> None:
    api.add_exception_handler(RequestValidationError, _invalid)
    api.add_exception_handler(ValidationError, _invalid)
    api.add_exception_handler(IdempotencyKeyReusedError, _idempotency_key_reused)
    api.add_exception_handler(MessageIdReusedError, _message_id_reused)
    for away in DATABASE_UNAVAILABLE:
        api.add_exception_handler(away, _database_away)
    for unstorable in DATA_ERRORS:
        api.add_exception_handler(unstorable, _unstorable)
