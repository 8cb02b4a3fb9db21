"""Where a run exports its model by default, and which old export folders go.

One folder per model version (`<data_dir>/exports/<model>/v<number>`): the production version's files stay in place
while later, unpromoted runs export, so `llm-engineering serve` keeps serving what was promoted. Old version
folders are removed beyond `export.keep`, never one whose version is in a stage."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from llm_engineering.domain.model_summary import recorded_export

VERSION_FOLDER = re.compile(r"^(v\d+|run-[0-9a-f]{8})$")  # what version_folder names; nothing else is removed


def version_folder(root: Path, model_version: int | None, run_id: str) -> Path:
    """`root/v<number>`, or `root/run-<run id>` for a run without a model version."""
    return root / (f"v{model_version}" if model_version is not None else f"run-{run_id.replace('-', '')[:8]}")


def staged_export_folders(model_name: str) -> set[Path]:
    """The export folders of `model_name`'s versions that are in a stage (production, staging, ...)."""
    from zenml.client import Client
    from zenml.utils.pagination_utils import depaginate

    try:
        versions = depaginate(Client().list_model_versions, model_name_or_id=model_name)
    except KeyError:  # no model of that name yet
        return set()
    folders = set()
    for version in versions:
        if version.stage is not None and (exported := recorded_export(version.run_metadata)) is not None:
            folders.add(exported.folder.resolve())
    return folders


def prune_export_folders(root: Path, keep: int, protected: set[Path]) -> list[Path]:
    """Removes the version folders in `root` beyond the `keep` most recently written, except the `protected` ones;
    returns the removed folders. Files and folders of other names (an export of the old one-folder layout) stay."""
    folders = [
        path for path in root.iterdir() if VERSION_FOLDER.match(path.name) and path.is_dir() and not path.is_symlink()
    ]
    folders.sort(key=lambda path: path.stat().st_mtime, reverse=True)
    removed = []
    for folder in folders[keep:]:
        if folder.resolve() not in protected:
            shutil.rmtree(folder)
            removed.append(folder)
    return removed
