from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Every config block forbids unknown keys, so a typo names itself instead of being ignored."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
