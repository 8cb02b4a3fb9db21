"""The one place settings and secrets come from: environment variables and `.env`.

Secrets are `SecretStr`, so they never show up in reprs, logs or ZenML metadata.
Nothing here connects to anything; reading settings is cheap and side-effect free.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # Where embedded Qdrant, the LLM response cache, converted models and exports live.
    data_dir: Path = Field(Path("data"), validation_alias=AliasChoices("LLM_ENGINEERING_DATA_DIR", "data_dir"))

    # How often a long loop prints its progress line when the output is not a terminal (a log, CI, a pipe).
    progress_interval_s: float = Field(
        30.0, ge=0, validation_alias=AliasChoices("LLM_ENGINEERING_PROGRESS_INTERVAL_S", "progress_interval_s")
    )

    openai_api_key: SecretStr | None = None
    qdrant_api_key: SecretStr | None = None
    hf_token: SecretStr | None = None
    comet_api_key: SecretStr | None = None
    comet_workspace: str | None = None
    comet_project_name: str = "llm-engineering"

    def path(self, *parts: str) -> Path:
        """A folder or file under the data dir, made absolute so steps agree on it."""
        return (self.data_dir / Path(*parts)).resolve()


def get_settings() -> Settings:
    """Read afresh each call: cheap, and tests can change the environment between runs."""
    return Settings()
