"""Instruction and preference samples, from generation through filtering to the final datasets."""

from __future__ import annotations

from pydantic import BaseModel, Field


class InstructionSample(BaseModel):
    sample_id: str = Field(description="content-derived: stable across reruns")
    instruction: str
    answer: str
    document_id: str = Field(description="source document: the unit of the leak-free split")
    chunk_id: str
    source: str
    extract: str = Field("", description="the text the pair was generated from (grounding checks)")

    def messages(self) -> list[dict[str, str]]:
        return [{"role": "user", "content": self.instruction}, {"role": "assistant", "content": self.answer}]


class PreferenceSample(BaseModel):
    sample_id: str
    prompt: str
    chosen: str
    rejected: str
    document_id: str
    chunk_id: str
    source: str
    extract: str = ""
    strategy: str = Field("", description="extract_vs_generated or judge_ranked")


class RemovedSample(BaseModel):
    """A sample a filter, dedup or decontamination removed, and why: nothing goes silently."""

    sample_id: str
    stage: str = Field(description="e.g. filter:length, dedup:minhash, decontamination:ngram")
    reason: str
    matched: str | None = Field(None, description="the kept sample id or eval-set item it matched")
    text: str = ""


class FailedGeneration(BaseModel):
    """A generation that failed after its repair retry: kept with the raw output for inspection."""

    chunk_id: str
    task: str
    error: str
    raw_output: str = ""
