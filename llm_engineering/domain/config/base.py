from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Every config block forbids unknown keys, so a typo names itself instead of being ignored."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def repeated(names: list[str]) -> list[str]:
    """Names listed more than once, sorted: lists keyed by name must not repeat a name."""
    return sorted({name for name in names if names.count(name) > 1})
