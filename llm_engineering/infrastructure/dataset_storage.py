"""DatasetDicts on disk that always load back. `datasets` writes a split with no rows as zero shards
(`"_data_files": []`), which `load_from_disk` then fails on with a bare IndexError; one empty shard, with the
split's features, is an empty split that loads."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from datasets import Dataset, DatasetDict, Features, load_from_disk


class UnloadableDataset(RuntimeError):
    """A dataset that was written but does not load back as written."""


def save_loadable(dataset: DatasetDict, folder: Path) -> None:
    """save_to_disk, with one shard for each empty split, then a read-back check of every split's rows and columns."""
    empty = {name: 1 for name, split in dataset.items() if len(split) == 0}
    dataset.save_to_disk(str(folder), num_shards=empty or None)
    try:
        loaded = load_from_disk(str(folder))
    except Exception as exc:  # noqa: BLE001 - whatever datasets raises, the version must not be published
        raise UnloadableDataset(f"the dataset written to {folder} does not load back: {exc!r}") from exc
    expected = {name: (len(split), split.column_names) for name, split in dataset.items()}
    found = {name: (len(split), split.column_names) for name, split in loaded.items()}
    if found != expected:
        raise UnloadableDataset(f"the dataset written to {folder} loads back as {found}, not {expected}")


def shardless_splits(folder: Path) -> list[str]:
    """Splits saved with no data file (the empty-split bug above), by name."""
    names = []
    for state in sorted(folder.glob("*/state.json")):
        if not json.loads(state.read_text()).get("_data_files"):
            names.append(state.parent.name)
    return names


def write_empty_shard(split_folder: Path) -> None:
    """Give a shardless split its one empty shard (same features), so the folder loads; the data is unchanged."""
    info = json.loads((split_folder / "dataset_info.json").read_text())
    features = Features.from_dict(info["features"])
    empty = Dataset.from_dict({name: [] for name in features}, features=features)
    with tempfile.TemporaryDirectory() as staging:
        empty.save_to_disk(staging, num_shards=1)
        for name in ("state.json", *(p.name for p in Path(staging).glob("*.arrow"))):
            shutil.copy(Path(staging) / name, split_folder / name)
