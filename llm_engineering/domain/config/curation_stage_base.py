"""What every curation stage's config model has besides its own parameters (its name, and whether it runs).

Its own module so that a stage kind with a module of its own (evolution_stage.py) and the union of all kinds
(curation_stages.py) can both import it.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from llm_engineering.domain.config.base import StrictModel


class CurationStageBase(StrictModel):
    """What every stage has besides its parameters."""

    default_name: ClassVar[str] = ""

    name: str | None = Field(
        None,
        description="unique; names the stage in the report and in each removed sample's `stage`. Default: "
        "filter:<kind> for a quality filter, dedup:exact / dedup:minhash / dedup:semantic, decontamination, "
        "judge, evol_instruct (a kind listed again gets _2, _3, ...)",
    )
    enabled: bool = Field(True, description="false: listed but skipped (e.g. `--set ...stages.3.enabled=false`)")
