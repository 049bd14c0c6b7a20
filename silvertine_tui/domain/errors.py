"""Validation results that name the field and the rule."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ValidationIssue:
    """One broken rule: `field` is the request field, `rule` a stable rule id."""

    field: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class OrderValidationError(ValueError):
    """Raised when a request breaks one or more rules; nothing was sent."""

    def __init__(self, issues: list[ValidationIssue]) -> None:
        if not issues:
            raise ValueError("OrderValidationError needs at least one issue")
        self.issues = list(issues)
        super().__init__("; ".join(str(i) for i in self.issues))
