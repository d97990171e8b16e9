"""The OpenAPI 3.1 document for /api/v1 (tests check it lists exactly the routes the blueprint serves)."""

from __future__ import annotations

from typing import Any

from flask import current_app

from ml.operations import Setting


def _error(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _json(ref: str, description: str = "OK") -> dict:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}


ADMIN = [{"session": []}]
BUILD_ID = {"name": "build_id", "in": "path", "required": True, "schema": {"type": "integer"}}
JOB_ID = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}
MODEL_ID = {"name": "model_id", "in": "path", "required": True, "schema": {"type": "integer"}}

SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["code", "message"],
        "properties": {"code": {"type": "string", "description": "Stable machine-readable code, e.g. not_image, "
                                "empty, no_file, file_too_large, no_model, rate_limited, unauthorized, csrf_failed"},
                       "message": {"type": "string"}}}}},
    "Prediction": {"type": "object", "required": ["label", "probability"], "properties": {
        "label": {"type": "string"}, "probability": {"type": "number", "minimum": 0, "maximum": 1},
        "display_label": {"type": "string", "description": "Label in the request's language"}}},
    "ModelRef": {"type": "object", "required": ["id", "name"], "properties": {
        "id": {"type": "integer"}, "name": {"type": "string"}, "arch": {"type": ["string", "null"]},
        "backend": {"type": "string"},
        "classes": {"type": "array", "description": "Every class, for a correction to pick from",
                    "items": {"type": "object", "properties": {"label": {"type": "string"},
                                                               "display_label": {"type": "string"}}}},
        "accuracy": {"type": ["number", "null"], "description": "In-source test accuracy recorded at training"},
        "created_at": {"type": ["string", "null"], "format": "date-time"},
        "quality": {"type": "object", "description": "Measured figures by kind, out-of-source first: "
                    "out_of_source / in_source {accuracy, count, ece, sources, unknown_rate}, "
                    "unknown {flagged_rate, count} (photos of other things); {} when never evaluated"}}},
    "PredictResponse": {"type": "object", "required": ["model", "predictions", "unknown", "unknown_score", "latency_ms"],
                        "properties": {
        "model": {"$ref": "#/components/schemas/ModelRef"},
        "predictions": {"type": "array", "items": {"$ref": "#/components/schemas/Prediction"},
                        "description": "Most likely first; probabilities use the model's fitted temperature"},
        "unknown": {"type": ["boolean", "null"], "description": "true: the picture looks like none of the model's "
                    "classes (the predictions are only the closest ones); false: it passed that check; null: the "
                    "model has no such check (not available)"},
        "unknown_score": {"type": ["number", "null"], "description": "The check's score, higher meaning less like "
                          "any class; unknown is true above the model's threshold. null when not available"},
        "latency_ms": {"type": "number"}}},
    "ExplainResponse": {"type": "object", "required": ["model", "class_index", "label", "image", "elapsed_ms"],
                        "properties": {
        "model": {"type": "object", "properties": {"id": {"type": "integer"}, "name": {"type": "string"}}},
        "class_index": {"type": "integer", "description": "The explained class (the top answer unless asked)"},
        "label": {"type": "string"}, "display_label": {"type": "string", "description": "Label in the request's language"},
        "image": {"type": "string", "description": "data:image/png;base64 URL: the model's square view of the picture "
                  "with the Grad-CAM heat map blended over it (red-yellow: what mattered most)"},
        "elapsed_ms": {"type": "number", "description": "Time of the heat map alone (forward and backward pass)"}}},
    "ModelVersion": {"type": "object", "required": ["id", "name", "classes", "active"], "properties": {
        "id": {"type": "integer"}, "name": {"type": "string"}, "arch": {"type": ["string", "null"]},
        "classes": {"type": "array", "items": {"type": "string"}}, "accuracy": {"type": ["number", "null"]},
        "metrics": {"type": ["object", "null"], "description": "Anonymous callers get summary metrics only"},
        "dataset_fingerprint": {"type": ["string", "null"], "description": "Administrators only"},
        "active": {"type": "boolean"}, "created_at": {"type": "string"}, "activated_at": {"type": ["string", "null"]}}},
    "Job": {"type": "object", "required": ["id", "kind", "status", "progress"], "properties": {
        "id": {"type": "string"}, "kind": {"type": "string", "enum": ["crawl", "crawl_classes", "split", "train", "evaluate", "review"]},
        "queue": {"type": "string"}, "params": {"type": "object"},
        "status": {"type": "string", "enum": ["queued", "running", "finished", "failed", "cancelled"]},
        "stage": {"type": ["string", "null"]}, "progress": {"type": "number"}, "result": {"type": ["object", "null"]},
        "error": {"type": ["object", "null"]}, "traceback": {"type": ["string", "null"]},
        "log": {"type": "array", "items": {"type": "string"}}, "retry_of": {"type": ["string", "null"]},
        "created_by": {"type": ["string", "null"]}, "created_at": {"type": "string"},
        "started_at": {"type": ["string", "null"]}, "finished_at": {"type": ["string", "null"]}}},
    "JobEnvelope": {"type": "object", "required": ["job"], "properties": {"job": {"$ref": "#/components/schemas/Job"}}},
    "JobRequest": {"type": "object", "required": ["kind"], "properties": {
        "kind": {"type": "string", "enum": ["crawl", "crawl_classes", "split", "train", "evaluate", "review"]},
        "params": {"type": "object", "description": "The kind's params: <Kind>JobParams (built from ml.operations)"}}},
}
_JSON_TYPES = {int: "integer", float: "number", bool: "boolean", str: "string", list: "array", dict: "object"}


def _setting_schema(spec: Setting) -> dict[str, Any]:
    """The JSON Schema of one declared setting: its type, choices, bounds, default and help."""
    kind = _JSON_TYPES.get(spec.kind, "string")
    schema: dict[str, Any] = {"type": [kind, "null"] if spec.optional else kind, "description": spec.help,
                              "default": spec.default}
    if kind == "array":
        schema["items"] = {"type": "string"}
    if spec.choices:
        schema["enum"] = [*spec.choices, *([None] if spec.optional else [])]
    for key, bound in (("minimum", spec.low), ("maximum", spec.high), ("exclusiveMinimum", spec.above),
                       ("exclusiveMaximum", spec.below)):
        if bound is not None:
            schema[key] = bound
    return schema


def job_params_schemas() -> dict[str, Any]:
    """`<Kind>JobParams` for every job kind: its targets, then the web settings of its declaration."""
    from .. import tasks

    targets = {"dataset": {"type": "string", "description": "Dataset folder name (the one name rule)"},
               "model_id": {"type": "integer", "description": "Registered model version"}}
    return {f"{kind.capitalize()}JobParams": {
        "type": "object", "additionalProperties": False, "required": [*(t for t in spec.targets if t not in spec.optional), *(s.name for s in spec.config.web_settings() if s.required)],
        "properties": {**{t: targets[t] for t in spec.targets},
                       **{s.name: _setting_schema(s) for s in spec.config.web_settings()}}}
        for kind, spec in tasks.KINDS.items()}


def build_request_schema() -> dict[str, Any]:
    """`BuildRequest`: the web settings of `ml.operations.build.BuildRequest`, with the shape of a class."""
    from ml.operations import BuildRequest

    properties = {s.name: _setting_schema(s) for s in BuildRequest.web_settings()}
    properties["classes"]["items"] = {"type": "object", "required": ["name"], "additionalProperties": False,
                                      "properties": {"name": {"type": "string"},
                                                     "keywords": {"type": ["array", "string"], "items": {"type": "string"}},
                                                     "display": {"type": "object", "properties": {
                                                         "zh": {"type": "string"}, "en": {"type": "string"}}}}}
    properties["recipe"]["description"] += " See TrainJobParams."
    return {"type": "object", "additionalProperties": False, "required": ["dataset", "classes"],
            "properties": properties}


def openapi_document() -> dict[str, Any]:
    """Build the document (the upload limit comes from the running app's config)."""
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    auth = {"401": _error("Not logged in as an administrator"), "400": _error("Missing CSRF token or bad parameters")}
    paths = {
        "/api/v1/predict": {"post": {
            "summary": "Classify one picture", "operationId": "predict",
            "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                "type": "object", "required": ["file"],
                "properties": {"file": {"type": "string", "format": "binary", "maxLength": limit}}}}}},
            "responses": {"200": _json("PredictResponse"), "400": _error("Not a usable picture (not_image, empty, "
                          "truncated, too_small, too_many_pixels, no_file)"), "413": _error("Upload too large"),
                          "415": _error("A picture format that is not accepted (unsupported_format: EPS, PSD, ...)"),
                          "429": _error("Rate limited"), "503": _error("No model yet (no_model) or model unusable")}}},
        "/api/v1/explain": {"post": {
            "summary": "Why this answer: a Grad-CAM heat map over the picture", "operationId": "explain",
            "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                "type": "object", "required": ["file"],
                "properties": {"file": {"type": "string", "format": "binary", "maxLength": limit},
                               "class_index": {"type": "integer", "minimum": 0,
                                               "description": "Index in the model's classes; default: the top answer"}}}}}},
            "responses": {"200": _json("ExplainResponse"), "400": _error("Not a usable picture, or bad_class"),
                          "413": _error("Upload too large"), "429": _error("Rate limited"),
                          "501": _error("This install has no torch (needs_torch)"),
                          "503": _error("No model yet (no_model), model unusable, or another heat map held the model too long (busy)")}}},
        "/api/v1/corrections": {"post": {
            "summary": "Say an answer was wrong: the picture again and the right class", "operationId": "sendCorrection",
            "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                "type": "object", "required": ["file", "label", "model_id"],
                "properties": {"file": {"type": "string", "format": "binary", "maxLength": limit},
                               "label": {"type": "string", "description": "One of the model's classes"},
                               "model_id": {"type": "integer"}, "predicted": {"type": "string"}}}}}},
            "responses": {"201": {"description": "Stored as a pending correction"},
                          "400": _error("Not a usable picture, or bad_class / unknown_model"),
                          "413": _error("Upload too large"), "429": _error("Rate limited"),
                          "503": _error("Too many corrections waiting (queue_full)")}}},
        "/api/v1/models": {"get": {"summary": "List model versions", "operationId": "listModels", "responses": {
            "200": {"description": "OK", "content": {"application/json": {"schema": {"type": "object", "properties": {
                "models": {"type": "array", "items": {"$ref": "#/components/schemas/ModelVersion"}}}}}}}}}},
        "/api/v1/models/{model_id}/activate": {"post": {
            "summary": "Activate a model version", "operationId": "activateModel", "security": ADMIN,
            "parameters": [MODEL_ID], "responses": {"200": {"description": "Activated"}, "404": _error("No such model"), **auth}}},
        "/api/v1/models/rollback": {"post": {
            "summary": "Activate again the model the last activation replaced", "operationId": "rollBackModel",
            "security": ADMIN, "responses": {"200": {"description": "Rolled back"},
                                             "409": _error("No earlier model (nothing_to_roll_back)"), **auth}}},
        "/api/v1/models/activations": {"get": {
            "summary": "Activation history, newest first", "operationId": "listActivations", "security": ADMIN,
            "parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer", "default": 50}}],
            "responses": {"200": {"description": "OK: activations with model_id, previous_id, by, via, at"}, **auth}}},
        "/api/v1/jobs": {
            "get": {"summary": "Recent jobs", "operationId": "listJobs", "security": ADMIN, "responses": {
                "200": {"description": "OK", "content": {"application/json": {"schema": {"type": "object", "properties": {
                    "jobs": {"type": "array", "items": {"$ref": "#/components/schemas/Job"}}}}}}}, **auth}},
            "post": {"summary": "Start a job", "operationId": "startJob", "security": ADMIN,
                     "requestBody": {"required": True, "content": {"application/json": {"schema": {
                         "$ref": "#/components/schemas/JobRequest"}}}},
                     "responses": {"202": _json("JobEnvelope", "Queued"), "503": _error("Redis unreachable"), **auth}}},
        "/api/v1/jobs/{job_id}": {"get": {"summary": "One job", "operationId": "getJob", "security": ADMIN,
                                          "parameters": [JOB_ID], "responses": {"200": _json("JobEnvelope"),
                                                                                "404": _error("No such job"), **auth}}},
        "/api/v1/jobs/{job_id}/cancel": {"post": {"summary": "Cancel a job", "operationId": "cancelJob", "security": ADMIN,
                                                  "parameters": [JOB_ID], "responses": {
                                                      "200": _json("JobEnvelope"), "409": _error("Not active"), **auth}}},
        "/api/v1/jobs/{job_id}/retry": {"post": {"summary": "Retry a job", "operationId": "retryJob", "security": ADMIN,
                                                 "parameters": [JOB_ID], "responses": {
                                                     "202": _json("JobEnvelope"), "409": _error("Not retryable"), **auth}}},
        "/api/v1/builds": {"post": {
            "summary": "Start a guided build (crawl every class, scan, review, split, train, evaluate)",
            "operationId": "startBuild", "security": ADMIN,
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "$ref": "#/components/schemas/BuildRequest"}}}},
            "responses": {"202": {"description": "Started: {build}"}, "400": _error("invalid_params"),
                          "409": _error("Another build works on that dataset"), "503": _error("Redis unreachable"),
                          **auth}}},
        "/api/v1/builds/{build_id}": {"get": {"summary": "One build: its steps' states, progress, counts and times",
                                              "operationId": "getBuild", "security": ADMIN, "parameters": [BUILD_ID],
                                              "responses": {"200": {"description": "{build}"},
                                                            "404": _error("No such build"), **auth}}},
        **{f"/api/v1/builds/{{build_id}}/{action}": {"post": {
            "summary": summary, "operationId": f"{action}Build", "security": ADMIN, "parameters": [BUILD_ID],
            "responses": {"200": {"description": "{build}"}, "409": _error("Not possible in the build's state"), **auth}}}
           for action, summary in (("cancel", "Cancel the build at its current step"),
                                   ("retry", "Run the failed or cancelled step again"),
                                   ("continue", "The review is done: split and train"),
                                   ("activate", "Activate the build's evaluated model"))},
        "/api/v1/queues": {"get": {"summary": "Queues and workers", "operationId": "queues", "security": ADMIN,
                                   "responses": {"200": {"description": "OK"}, **auth}}},
        "/api/v1/openapi.json": {"get": {"summary": "This document", "operationId": "openapi",
                                         "responses": {"200": {"description": "OK"}}}},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Animal classifier API", "version": "1"},
        "paths": paths,
        "components": {"schemas": {**SCHEMAS, **job_params_schemas(), "BuildRequest": build_request_schema()}, "securitySchemes": {"session": {
            "type": "apiKey", "in": "cookie", "name": "session",
            "description": "Log in at /admin/login; send the CSRF token in X-CSRFToken on POST"}}},
    }
