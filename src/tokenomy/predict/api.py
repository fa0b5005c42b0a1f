"""``POST /api/v1/predict``: the JSON body checked field by field, then :func:`predict`."""

from __future__ import annotations

from typing import Any

from tokenomy.api.params import ApiError
from tokenomy.predict.estimate import PredictError, predict
from tokenomy.pricing import PriceCatalog
from tokenomy.store.db import Database

FIELDS = ("messages", "command", "model", "provider", "history")


def predict_body(body: Any, db: Database, catalog: PriceCatalog) -> dict[str, Any]:
    """The estimate for a body ``{model, messages | command, provider?, history?}``; every
    refusal is a 422 naming the field."""
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object", "body")
    for name in body:
        if name not in FIELDS:
            raise ApiError(422, f"unknown field {name!r} (known: {', '.join(FIELDS)})", name)
    for name in ("model", "provider", "command"):
        if body.get(name) is not None and not isinstance(body[name], str):
            raise ApiError(422, f"{name} must be a string", name)
    use_history = body.get("history", True)
    if not isinstance(use_history, bool):
        raise ApiError(422, "history must be true or false", "history")
    try:
        result = predict(
            body.get("messages"),
            body.get("model") or "",
            command=body.get("command"),
            provider=body.get("provider"),
            db=db if use_history else None,
            catalog=catalog,
        )
    except PredictError as exc:
        raise ApiError(422, str(exc), exc.field) from exc
    return result.to_json()
