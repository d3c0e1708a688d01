"""The OpenAPI 3.1 document, generated from the same pydantic models that validate input."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from registry.schemas.common import ProblemOut
from registry.schemas.disputes import (
    AnswerBody,
    DisputeBody,
    DisputeList,
    DisputeOut,
    OpenedDisputeOut,
)
from registry.schemas.inquiries import InquiryBody, InquiryReportOut, OutcomeBody, OutcomeOut
from registry.schemas.loans import (
    LoanBatch,
    LoanOut,
    LoanPage,
    RetractionBody,
    RetractionOut,
    SubmissionOut,
)
from registry.schemas.tokens import (
    PendingPageOut,
    TokenEvaluateBody,
    TokenEvaluationOut,
    TokenKeyOut,
    TokenMappingsBody,
    TokenMappingsOut,
)
from registry.services.loans import DEFAULT_PAGE, MAX_PAGE
from registry.services.tokens import rotation_pending

_REF = "#/components/schemas/{model}"


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": _REF.format(model=model.__name__)}


def _json(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(model)}}}


def _problems(*statuses: int, **instead: str) -> dict[str, Any]:
    """Problem responses by status; `instead` rewords one for a route (`_409="..."`)."""
    reasons = {
        400: "malformed JSON or header",
        401: "missing, unknown or revoked API key",
        403: "the lender is suspended, or may not make this request",
        404: "not found (or not the caller's)",
        409: "Idempotency-Key reused with a different body",
        413: "body too large",
        415: "body is not JSON",
        422: "the request failed validation",
        429: "a quota of the lender is used up (tokens, inquiries or records); see Retry-After",
        503: "no token key has been created yet",
    }
    reasons.update({int(status.lstrip("_")): reason for status, reason in instead.items()})
    return {
        str(status): {
            "description": reasons[status],
            "content": {"application/problem+json": {"schema": _ref(ProblemOut)}},
        }
        for status in statuses
    }


_AUTH_ERRORS = (401, 403)
_INQUIRY_ID = {
    "name": "inquiry_id",
    "in": "path",
    "required": True,
    "description": "the inquiry_id of the caller's new_credit inquiry (from its report)",
    "schema": {"type": "string", "minLength": 1, "maxLength": 36},
}
_DISPUTE_ID = {
    "name": "dispute_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "minLength": 1, "maxLength": 36},
}
_LOAN_REF = {
    "name": "loan_ref",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "minLength": 1, "maxLength": 64},
}


def _idempotency_key(without: str) -> dict[str, Any]:
    return {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": "a retry with the same key and body returns the first answer "
        f"without {without}",
        "schema": {
            "type": "string",
            "minLength": 1,
            "maxLength": 255,
            "pattern": "^[\\x20-\\x7e]+$",
        },
    }


@cache
def openapi_document() -> dict[str, Any]:
    models: list[tuple[type[BaseModel], Any]] = [
        (LoanBatch, "validation"),
        (InquiryBody, "validation"),
        (SubmissionOut, "serialization"),
        (LoanOut, "serialization"),
        (LoanPage, "serialization"),
        (RetractionBody, "validation"),
        (RetractionOut, "serialization"),
        (InquiryReportOut, "serialization"),
        (OutcomeBody, "validation"),
        (OutcomeOut, "serialization"),
        (ProblemOut, "serialization"),
        (TokenEvaluateBody, "validation"),
        (TokenKeyOut, "serialization"),
        (TokenEvaluationOut, "serialization"),
        (DisputeBody, "validation"),
        (AnswerBody, "validation"),
        (OpenedDisputeOut, "serialization"),
        (DisputeOut, "serialization"),
        (DisputeList, "serialization"),
        (PendingPageOut, "serialization"),
        (TokenMappingsBody, "validation"),
        (TokenMappingsOut, "serialization"),
    ]
    _, schemas = models_json_schema(models, ref_template=_REF)

    def body(model: type[BaseModel]) -> dict[str, Any]:
        return {"required": True, "content": {"application/json": {"schema": _ref(model)}}}

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Debt-sharing registry: lender API",
            "version": "1",
            "description": "Report loans against pseudonymous borrower tokens and ask how "
            "indebted an applicant is across all member lenders. Money is in integer minor "
            "units with an ISO 4217 currency; timestamps are UTC. Errors are RFC 9457 "
            "problem documents.",
        },
        "servers": [{"url": "/"}],
        "security": [{"apiKey": []}],
        "paths": {
            "/v1/loans": {
                "post": {
                    "operationId": "submitLoans",
                    "summary": "Report the current state of up to 5,000 loans",
                    "description": "Each record is judged on its own: the answer is 200 "
                    "whenever the request is well-formed, with per-record rejections.",
                    "parameters": [_idempotency_key("writing again")],
                    "requestBody": body(LoanBatch),
                    "responses": {
                        "200": _json(SubmissionOut, "per-record outcome of the batch"),
                        **_problems(400, *_AUTH_ERRORS, 409, 413, 415, 422, 429),
                    },
                },
                "get": {
                    "operationId": "listLoans",
                    "summary": "The caller's own loans, a page at a time, in loan_ref order",
                    "parameters": [
                        {
                            "name": "status",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "string", "enum": ["open", "closed", "written_off"]},
                        },
                        {
                            "name": "cursor",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "string"},
                        },
                        {
                            "name": "limit",
                            "in": "query",
                            "required": False,
                            "schema": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": MAX_PAGE,
                                "default": DEFAULT_PAGE,
                            },
                        },
                    ],
                    "responses": {
                        "200": _json(LoanPage, "one page of loans"),
                        **_problems(*_AUTH_ERRORS, 422),
                    },
                },
            },
            "/v1/loans/{loan_ref}": {
                "get": {
                    "operationId": "getLoan",
                    "summary": "The stored state of one of the caller's loans",
                    "parameters": [_LOAN_REF],
                    "responses": {
                        "200": _json(LoanOut, "the loan"),
                        **_problems(*_AUTH_ERRORS, 404),
                    },
                },
                "delete": {
                    "operationId": "retractLoan",
                    "summary": "Retract a loan reported in error",
                    "description": "Removes the loan, its history and its monthly status from "
                    "every report at once and keeps a tombstone (who, when, why). The loan_ref "
                    "may then be reported anew, under any borrower. A retracted or unknown "
                    "loan_ref is a 404.",
                    "parameters": [_LOAN_REF],
                    "requestBody": body(RetractionBody),
                    "responses": {
                        "200": _json(RetractionOut, "the tombstone"),
                        **_problems(400, *_AUTH_ERRORS, 404, 413, 415, 422),
                    },
                },
            },
            "/v1/inquiries": {
                "post": {
                    "operationId": "inquire",
                    "summary": "The over-indebtedness report for a borrower token",
                    "description": "new_credit inquiries are recorded and counted for later "
                    "callers (each is an application: record its outcome); account_review "
                    "inquiries are recorded for audit only. A phone_token is stored apart from "
                    "the borrower and never shown; the report counts phones in `identity`.",
                    "parameters": [_idempotency_key("recording a second inquiry")],
                    "requestBody": body(InquiryBody),
                    "responses": {
                        "200": _json(InquiryReportOut, "the report"),
                        **_problems(
                            400,
                            *_AUTH_ERRORS,
                            409,
                            413,
                            415,
                            422,
                            429,
                            _403="the lender is suspended, or may not ask: account_review about a "
                            "borrower it holds no loan with, or new_credit without giving back "
                            "(type /problems/reciprocity: no loan on file, or no upload accepted "
                            "within the policy's reciprocity_days, and no exemption)",
                        ),
                    },
                },
            },
            "/v1/inquiries/{inquiry_id}/outcome": {
                "post": {
                    "operationId": "recordOutcome",
                    "summary": "Record what came of one of the caller's new_credit inquiries",
                    "description": "approved needs loan_ref, amount and currency (declined and "
                    "withdrawn take none of them) and is shown to other lenders at once as a "
                    "provisional loan, until the caller reports a loan with that loan_ref or "
                    "the policy's provisional_days pass. A decline is never shown to other "
                    "lenders. At most 30 days after the inquiry. The same outcome again is "
                    "answered 200 with the first answer; a different one is a 409. Another "
                    "lender's inquiry, or an unknown id, is a 404; an account_review inquiry "
                    "a 422 on inquiry_id.",
                    "parameters": [_INQUIRY_ID],
                    "requestBody": body(OutcomeBody),
                    "responses": {
                        "201": _json(OutcomeOut, "the outcome, recorded now"),
                        "200": _json(OutcomeOut, "the same outcome, recorded before"),
                        **_problems(
                            400,
                            *_AUTH_ERRORS,
                            404,
                            409,
                            413,
                            415,
                            422,
                            _404="no new_credit inquiry of the caller's with that id",
                            _409="the inquiry already has a different outcome",
                        ),
                    },
                },
            },
            "/v1/disputes": {
                "post": {
                    "operationId": "openDispute",
                    "summary": "Relay a borrower's dispute of a tradeline of one of the caller's "
                    "reports (at most 90 days old)",
                    "description": "The registry places the label on the loan it stood for and "
                    "asks that loan's lender to answer by due_at (the policy's dispute_days). "
                    "The caller never learns whose loan it is. While open, reports show the "
                    "tradeline as disputed. The same record disputed again by the caller while "
                    "open is answered 200 with the open dispute (the same reason) or 409 "
                    "(another reason).",
                    "requestBody": body(DisputeBody),
                    "responses": {
                        "201": _json(OpenedDisputeOut, "the dispute, opened now"),
                        "200": _json(OpenedDisputeOut, "the caller's open dispute of that record"),
                        **_problems(
                            400,
                            *_AUTH_ERRORS,
                            409,
                            413,
                            415,
                            422,
                            _409="the record is under the caller's open dispute with another "
                            "reason, or the report's tradeline can no longer be placed",
                        ),
                    },
                },
                "get": {
                    "operationId": "listDisputes",
                    "summary": "The disputes of the caller's own records, the most urgent first",
                    "parameters": [
                        {
                            "name": "status",
                            "in": "query",
                            "required": False,
                            "description": "open (unanswered, overdue ones included), overdue "
                            "or answered; all by default",
                            "schema": {"type": "string", "enum": ["open", "overdue", "answered"]},
                        }
                    ],
                    "responses": {
                        "200": _json(DisputeList, "the disputes"),
                        **_problems(*_AUTH_ERRORS, 422),
                    },
                },
            },
            "/v1/disputes/{dispute_id}": {
                "get": {
                    "operationId": "getDispute",
                    "summary": "A dispute of the caller's record (DisputeOut) or one it opened "
                    "(OpenedDisputeOut)",
                    "parameters": [_DISPUTE_ID],
                    "responses": {
                        "200": {
                            "description": "the dispute, as the caller may see it",
                            "content": {
                                "application/json": {
                                    "schema": {"oneOf": [_ref(DisputeOut), _ref(OpenedDisputeOut)]}
                                }
                            },
                        },
                        **_problems(*_AUTH_ERRORS, 404),
                    },
                },
            },
            "/v1/disputes/{dispute_id}/answer": {
                "post": {
                    "operationId": "answerDispute",
                    "summary": "Answer a dispute of the caller's record, once",
                    "description": "corrected needs a correction of the loan sent since the "
                    'dispute opened ("correction": true); retracted needs its retraction since '
                    "then; otherwise a 422 on resolution. A late answer is accepted.",
                    "parameters": [_DISPUTE_ID],
                    "requestBody": body(AnswerBody),
                    "responses": {
                        "200": _json(DisputeOut, "the dispute, answered"),
                        **_problems(
                            400,
                            *_AUTH_ERRORS,
                            404,
                            409,
                            413,
                            415,
                            422,
                            _404="no dispute of the caller's records with that id",
                            _409="the dispute was answered already",
                        ),
                    },
                },
            },
            "/v1/tokens/key": {
                "get": {
                    "operationId": "getTokenKey",
                    "summary": "The registry's VOPRF public key (and the next one during a "
                    "rotation window)",
                    "description": "Pin it; verify every evaluation's proof against it.",
                    "responses": {
                        "200": _json(TokenKeyOut, "the published key"),
                        **_problems(*_AUTH_ERRORS, 503),
                    },
                },
            },
            "/v1/tokens/evaluate": {
                "post": {
                    "operationId": "evaluateTokens",
                    "summary": "Evaluate up to 1,000 blinded elements (RFC 9497 VOPRF, "
                    "ristretto255-SHA512) with one batched DLEQ proof",
                    "description": "Each element counts against the lender's daily quota. "
                    "An invalid or identity element is a 400 naming its index.",
                    "requestBody": body(TokenEvaluateBody),
                    "responses": {
                        "200": _json(TokenEvaluationOut, "evaluated elements and the proof"),
                        **_problems(400, *_AUTH_ERRORS, 413, 415, 422, 429, 503),
                    },
                },
            },
            "/v1/tokens/rotation/pending": {
                "get": {
                    "operationId": "listRotationPending",
                    "summary": "During a rotation window: the caller's rows whose borrower it "
                    "has given no next token yet, a page at a time, with totals",
                    "description": "Loans of every status, inquiries and application outcomes "
                    "of the last 2 years, disputes of the caller's loans; loans first (by "
                    "loan_ref), then inquiries, outcomes and disputes. A retire waits for them.",
                    "parameters": [
                        {
                            "name": "kind",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "string", "enum": list(rotation_pending.KINDS)},
                        },
                        {
                            "name": "cursor",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "string"},
                        },
                        {
                            "name": "limit",
                            "in": "query",
                            "required": False,
                            "schema": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": rotation_pending.MAX_PAGE,
                                "default": rotation_pending.DEFAULT_PAGE,
                            },
                        },
                    ],
                    "responses": {
                        "200": _json(PendingPageOut, "one page, and the totals"),
                        **_problems(*_AUTH_ERRORS, 409, 422, _409="no rotation window is open"),
                    },
                },
            },
            "/v1/tokens/rotation/mappings": {
                "post": {
                    "operationId": "mapNextTokens",
                    "summary": "During a rotation window: next tokens for up to 1,000 "
                    "borrowers named by their current token",
                    "description": "Every row the caller holds about each borrower (closed "
                    "loans and inquiries included) gets its next token; a later mapping "
                    "replaces an earlier one. Pairs naming no row of the caller change nothing.",
                    "requestBody": body(TokenMappingsBody),
                    "responses": {
                        "200": _json(TokenMappingsOut, "what the mappings matched"),
                        **_problems(
                            400,
                            *_AUTH_ERRORS,
                            409,
                            413,
                            415,
                            422,
                            _409="no rotation window is open",
                        ),
                    },
                },
            },
        },
        "components": {
            "schemas": schemas["$defs"],
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "the lender's API key: rk_<prefix>_<secret>",
                },
            },
        },
    }
