"""The base of every spec model: unknown keys are errors, values are immutable, and types are
strict (a boolean is not a number, a string is not a list)."""

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
