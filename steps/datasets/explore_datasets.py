"""The feature pipeline's last step: explore each dataset version the run published (statistics, topic map, review
sample), each exploration its own artifact (`<dataset>_exploration`) whose dashboard visualization is the report.

It never fails the run: the datasets are already published, so whatever goes wrong here (a version that will not
load, Qdrant, the embedder, UMAP) is logged and recorded in the exploration artifact."""

from __future__ import annotations

import logging

import zenml.integrations.huggingface.materializers  # noqa: F401 - registers the DatasetDict materializer
from zenml import log_metadata, save_artifact, step

from llm_engineering.application.exploration.explore import explore_configured
from llm_engineering.domain.config.dataset_generation import ExplorationConfig
from llm_engineering.domain.config.feature_engineering import EmbeddingConfig, QdrantConfig
from llm_engineering.domain.exploration import DatasetExploration, DatasetStatistics, TopicMap
from llm_engineering.domain.samples import DatasetPublication, PublishedDataset
from llm_engineering.infrastructure.zenml.exploration_materializer import ExplorationMaterializer, review_sample_path

logger = logging.getLogger(__name__)


def exploration_name(dataset: str) -> str:
    return f"{dataset}_exploration"


def _explore(published: PublishedDataset, config: ExplorationConfig, embedding: EmbeddingConfig,
             qdrant: QdrantConfig) -> DatasetExploration:  # fmt: skip
    from zenml.client import Client

    version = str(published.version)
    try:
        dataset = Client().get_artifact_version(published.name, version).load()
        return explore_configured(dataset, published.name, version, config, embedding, qdrant)
    except Exception as exc:  # noqa: BLE001 - exploration never fails the run; the artifact says what went wrong
        logger.warning("exploration of %s version %s failed: %r", published.name, version, exc, exc_info=exc)
        error = f"exploration failed: {type(exc).__name__}: {exc}"
        return DatasetExploration(
            dataset=published.name, version=version, kind="preference" if "preference" in published.name else
            "instruction", statistics=DatasetStatistics(samples=published.train + published.test, tokenizer="-"),
            topic_map=TopicMap(status="failed", message=error), errors=[error],
        )  # fmt: skip


@step(enable_cache=False)
def explore_datasets(
    dataset_publication: DatasetPublication,
    exploration: ExplorationConfig,
    embedding: EmbeddingConfig,
    qdrant: QdrantConfig,
) -> None:
    """`exploration.enabled: false` skips it. A dataset with no new version this run has nothing new to explore."""
    if not exploration.enabled:
        log_metadata({"explored": "exploration.enabled is false"})
        return
    explored = []
    for published in dataset_publication.datasets:
        if published.status != "published":
            continue
        result = _explore(published, exploration, embedding, qdrant)
        try:
            name = exploration_name(published.name)
            saved = save_artifact(result, name, materializer=ExplorationMaterializer)
            reference = f"{name}:{saved.version}"
            topics = result.topic_map
            summary = {"exploration": reference, "topic_map": topics.status, "clusters": len(topics.clusters),
                       "outliers": len(topics.outliers)}  # fmt: skip
            if result.review_sample:
                summary["review_sample_file"] = review_sample_path(saved.uri)
                logger.info("%s version %s: review sample of %d samples in %s", published.name, result.version,
                            len(result.review_sample), summary["review_sample_file"])  # fmt: skip
            from zenml.client import Client

            dataset_version = Client().get_artifact_version(published.name, result.version)
            log_metadata(summary, artifact_version_id=dataset_version.id)
            explored.append(f"{published.name} {result.version}: {reference} ({result.topic_map.status}, "
                            f"{len(result.topic_map.clusters)} clusters, {len(result.errors)} errors)")  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - never fail the run over its report
            logger.warning("saving the exploration of %s failed: %r", published.name, exc, exc_info=exc)
            explored.append(f"{published.name} {result.version}: not saved ({type(exc).__name__}: {exc})")
    log_metadata({"explored": explored or ["no dataset version was published in this run"]})
