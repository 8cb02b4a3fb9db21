"""Prompt templates are files (string.Template: `$name`), so YAML can point at a team's own wording."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from string import Template


@lru_cache(maxsize=32)
def _template(path: str, mtime: float) -> Template:
    return Template(Path(path).read_text(encoding="utf-8"))


def render(path: Path, **values: str) -> str:
    """safe_substitute: an extract may itself contain `$` (shell snippets, prices) and must pass through."""
    return _template(str(path), path.stat().st_mtime).safe_substitute(**values).strip()
