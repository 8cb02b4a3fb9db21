"""Pydantic models of each pipeline's YAML `parameters:`; unknown keys are errors."""
