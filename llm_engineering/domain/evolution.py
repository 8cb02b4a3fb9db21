"""What an `evol_instruct` curation stage reports: evolutions per mutation, kept or eliminated and why, what the LLM
calls cost, and a few parent -> child examples for the dataset report."""

from __future__ import annotations

from pydantic import BaseModel, Field


class MutationCount(BaseModel):
    attempted: int = 0
    kept: int = 0
    eliminated_by_reason: dict[str, int] = {}


class EvolutionExample(BaseModel):
    mutation: str
    round: int = 1
    parent_id: str
    parent_instruction: str
    instruction: str
    answer: str


class EvolutionReport(BaseModel):
    skipped: str | None = Field(None, description="why the stage evolved nothing (preference pairs are passed through)")
    samples: int = Field(0, description="samples the stage received")
    chosen: int = Field(0, description="of those, chosen to be evolved (fraction, max_samples)")
    rounds: int = 0
    attempted: int = Field(0, description="evolutions asked for, all rounds")
    kept: int = Field(0, description="evolved samples added to the kept samples")
    eliminated_by_reason: dict[str, int] = {}
    by_mutation: dict[str, MutationCount] = {}
    calls: int = Field(0, description="LLM requests the model answered (cache hits are not calls)")
    cached: int = 0
    failed_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    examples: list[EvolutionExample] = []
