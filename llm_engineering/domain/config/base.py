from pathlib import Path

from pydantic import BaseModel, ConfigDict, field_validator


class StrictModel(BaseModel):
    """Every config block forbids unknown keys, so a typo names itself instead of being ignored."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def repeated(names: list[str]) -> list[str]:
    """Names listed more than once, sorted: lists keyed by name must not repeat a name."""
    return sorted({name for name in names if names.count(name) > 1})


class PromptFileSet(StrictModel):
    """A block of prompt template paths: every one must be an existing file, checked when the config loads."""

    @field_validator("*")
    @classmethod
    def _exists(cls, path: Path) -> Path:
        if not path.is_file():
            raise ValueError(f"prompt template not found: {path}")
        return path
