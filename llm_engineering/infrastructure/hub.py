"""Push an exported model folder to the Hugging Face Hub (private unless configured otherwise)."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr


def push_folder(folder: Path, repo_id: str, token: SecretStr, private: bool = True, message: str = "") -> str:
    """Returns the repo URL."""
    from huggingface_hub import HfApi

    api = HfApi(token=token.get_secret_value())
    url = api.create_repo(repo_id, private=private, exist_ok=True)
    api.upload_folder(folder_path=str(folder), repo_id=repo_id, commit_message=message or "upload model")
    return str(url)
