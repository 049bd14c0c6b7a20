"""Pydantic models made from values that were validated already, without validating
them again (as `model_construct` does, minus its per-field default handling).

For hot paths only: the journal's decoder (each payload went through its validator)
and the OMS's new orders (every value comes from a validated request). The caller
gives every field's value and the fields that count as set.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)

new_model = object.__new__
# pydantic's own slots, set directly: no attribute lookup, no `__setattr__`.
set_dict = BaseModel.__dict__["__dict__"].__set__
set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
set_private = BaseModel.__dict__["__pydantic_private__"].__set__


def build_trusted(cls: type[M], values: dict[str, Any], fields_set: set[str]) -> M:
    """An instance of `cls` holding `values` (every field, in field order)."""
    model: M = new_model(cls)
    set_dict(model, values)
    set_fields_set(model, fields_set)
    set_extra(model, None)
    set_private(model, None)
    return model
