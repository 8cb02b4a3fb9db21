"""Instruction and preference generation from document extracts with any `LLMProvider`."""
