"""Export folders: one per model version, the older ones pruned beyond export.keep, never a staged version's."""

from __future__ import annotations

import os
from pathlib import Path

from llm_engineering.infrastructure.export_folders import prune_export_folders, version_folder


def test_a_version_folder_is_named_for_the_model_version_or_else_the_run(tmp_path: Path) -> None:
    assert version_folder(tmp_path, 7, "e15f4cd8-2efa-482d") == tmp_path / "v7"
    assert version_folder(tmp_path, None, "e15f4cd8-2efa-482d") == tmp_path / "run-e15f4cd8"


def test_only_the_newest_version_folders_and_the_staged_ones_stay(tmp_path: Path) -> None:
    for age, name in enumerate(["v5", "v4", "v3", "v2", "v1"]):  # v5 newest
        (tmp_path / name).mkdir()
        (tmp_path / name / "model.safetensors").write_bytes(b"w")
        os.utime(tmp_path / name, (1_000_000 - age * 100, 1_000_000 - age * 100))
    (tmp_path / "README.md").write_text("an export of the one-folder layout")  # not a version folder: stays
    (tmp_path / "notes").mkdir()
    (tmp_path / ".v6.partial").mkdir()  # an export in progress
    (tmp_path / "v9").symlink_to(tmp_path / "notes")

    removed = prune_export_folders(tmp_path, keep=2, protected={(tmp_path / "v1").resolve()})

    assert sorted(path.name for path in removed) == ["v2", "v3"]
    assert sorted(path.name for path in tmp_path.iterdir()) == [".v6.partial", "README.md", "notes", "v1", "v4", "v5",
                                                                "v9"]  # fmt: skip
    assert prune_export_folders(tmp_path, keep=2, protected={(tmp_path / "v1").resolve()}) == []
