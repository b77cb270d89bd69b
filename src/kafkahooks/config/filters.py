"""Route filter predicates: which events a route takes, beyond their type.

Each predicate names a field (a placeholder path such as ``value.team`` or
``headers.tenant``) and exactly one test; a route takes an event only when
every predicate holds.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["Predicate"]

Scalar = str | int | float | bool | None

_TESTS = ("equals", "not_equals", "in_", "not_in", "exists")


class Predicate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    field: str = Field(min_length=1)
    equals: Scalar = None
    not_equals: Scalar = None
    in_: list[Scalar] | None = Field(default=None, alias="in")
    not_in: list[Scalar] | None = None
    exists: bool | None = None

    @model_validator(mode="after")
    def _one_test(self) -> Predicate:
        given = [t for t in _TESTS if t in self.model_fields_set]
        if len(given) != 1:
            names = "equals, not_equals, in, not_in, exists"
            raise ValueError(f"give exactly one of {names} for field {self.field!r}")
        return self

    @property
    def test(self) -> str:
        return next(t for t in _TESTS if t in self.model_fields_set)
