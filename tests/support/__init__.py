"""Reusable test doubles that are real servers, not mocks."""
