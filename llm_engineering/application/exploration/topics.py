"""The topic map: sample vectors -> UMAP (2-D, seeded) -> HDBSCAN clusters, each labelled with its top c-TF-IDF terms
(BERTopic's class-based TF-IDF: a term's frequency in the cluster, weighted by how rare it is across clusters).

Clustering runs on the 2-D map itself, so what the scatter shows as a group is what the table calls a cluster."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import numpy as np

from llm_engineering.domain.config.dataset_generation import ExplorationConfig
from llm_engineering.domain.exploration import MapPoint, Outlier, TopicCluster, TopicMap

HOVER_CHARACTERS = 140
EXAMPLES_PER_CLUSTER = 3
NOISE = -1


class TooFewSamples(ValueError):
    """Fewer samples than `exploration.min_samples_to_cluster`: no map, the statistics still stand."""


def require_enough_samples(samples: int, config: ExplorationConfig) -> None:
    if samples < config.min_samples_to_cluster:
        raise TooFewSamples(
            f"{samples} samples: too few to cluster (exploration.min_samples_to_cluster is "
            f"{config.min_samples_to_cluster}); the statistics still hold"
        )


def cosine_neighbours(vectors: np.ndarray, neighbours: int, block: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Exact cosine kNN (each point its own first neighbour), the same on every run: distances rounded to 1e-6 and a
    stable sort, so ties (samples sharing their chunk's vector are identical points) always break by index, whatever
    order a multithreaded BLAS summed the last bits in."""
    unit = vectors.astype(np.float64)
    unit /= np.maximum(np.linalg.norm(unit, axis=1, keepdims=True), 1e-12)
    indices = np.empty((len(unit), neighbours), dtype=np.int64)
    distances = np.empty((len(unit), neighbours), dtype=np.float32)
    for start in range(0, len(unit), block):
        rows = np.clip(np.round(1.0 - unit[start : start + block] @ unit.T, 6), 0.0, 2.0)
        rows[np.arange(len(rows)), np.arange(start, start + len(rows))] = -1.0  # itself first, at distance 0
        order = np.argsort(rows, axis=1, kind="stable")[:, :neighbours]
        indices[start : start + len(rows)] = order
        distances[start : start + len(rows)] = np.maximum(np.take_along_axis(rows, order, axis=1), 0.0)
    return indices, distances


def reduce_to_2d(vectors: np.ndarray, config: ExplorationConfig) -> np.ndarray:
    """Seeded UMAP on the exact cosine neighbours (`cosine_neighbours`): UMAP's own search compiles ~15 s of numba
    code in every new process, more than it then runs on 2,000 samples, and breaks ties differently run to run."""
    import warnings

    import scipy.linalg  # noqa: F401 - loads scipy's BLAS before the limit, which limits only the loaded ones
    from threadpoolctl import threadpool_limits
    from umap import UMAP

    neighbours = min(config.neighbors, len(vectors) - 1)
    indices, distances = cosine_neighbours(vectors, neighbours)
    # PCA initialisation, on one BLAS thread: the same map on every run. UMAP's default spectral one (ARPACK) differs
    # from call to call, as PCA's SVD does with another thread count, and the layout grows a last-bit difference into
    # another map (55 vs 57 clusters for 600 samples).
    with warnings.catch_warnings(), threadpool_limits(limits=1):
        warnings.simplefilter("ignore")  # "n_jobs overridden by random_state": seeded UMAP runs on one thread anyway
        reducer = UMAP(
            n_components=2,
            n_neighbors=neighbours,
            min_dist=0.0,  # packed clusters: HDBSCAN separates them better
            n_epochs=200,  # UMAP picks 500 below 10,000 samples: 200 draws the same map in less than half the time
            metric="cosine",
            random_state=config.seed,
            precomputed_knn=(indices, distances, None),
            init="pca",
        )
        return np.asarray(reducer.fit_transform(vectors), dtype=np.float64)


def cluster(coordinates: np.ndarray, config: ExplorationConfig) -> np.ndarray:
    from sklearn.cluster import HDBSCAN

    return HDBSCAN(min_cluster_size=min_cluster_size(len(coordinates), config), copy=True).fit_predict(coordinates)


def min_cluster_size(samples: int, config: ExplorationConfig) -> int:
    """`min_cluster_size`, raised to `min_cluster_fraction` of the samples: on 2,000 samples a topic of 5 is one
    passage's questions, not a topic."""
    return max(config.min_cluster_size, math.ceil(config.min_cluster_fraction * samples))


def ctfidf_terms(texts: Sequence[str], labels: Sequence[int], top: int) -> dict[int, list[str]]:
    """cluster -> its top terms: c-TF-IDF (tf of a term in the cluster's concatenated texts, normalised by the
    cluster's words, times log(1 + mean words per cluster / the term's frequency over all clusters)); English stop
    words and pure numbers left out."""
    from sklearn.feature_extraction.text import CountVectorizer

    clusters = sorted({label for label in labels if label != NOISE})
    if not clusters:
        return {}
    documents = [" ".join(t for t, label in zip(texts, labels, strict=True) if label == c) for c in clusters]
    vectorizer = CountVectorizer(stop_words="english", token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z\-]+\b")
    try:
        counts = vectorizer.fit_transform(documents).toarray().astype(np.float64)
    except ValueError:  # nothing but stop words
        return {c: [] for c in clusters}
    words = vectorizer.get_feature_names_out()
    tf = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    idf = np.log(1 + counts.sum(axis=1).mean() / np.maximum(counts.sum(axis=0), 1))
    weights = tf * idf
    # ties broken by the term itself: the same version always gets the same label
    return {
        c: [words[i] for i in sorted(range(len(words)), key=lambda i: (-weights[row, i], words[i]))[:top]
            if weights[row, i] > 0]
        for row, c in enumerate(clusters)
    }  # fmt: skip


def _short(text: str, limit: int = HOVER_CHARACTERS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def topic_map(
    rows: Sequence[dict], texts: Sequence[str], titles: Sequence[str], vectors: np.ndarray,
    config: ExplorationConfig, main_score: str | None = None,
) -> TopicMap:  # fmt: skip
    """`rows`: the samples (sample_id, split, source, score columns); `texts`: what labels are drawn from (instruction
    and answer); `titles`: what a point and an example show (the instruction); `vectors`: one per row."""
    require_enough_samples(len(rows), config)
    started = time.perf_counter()
    coordinates = reduce_to_2d(vectors, config)
    labels = [int(label) for label in cluster(coordinates, config)]
    terms = ctfidf_terms(texts, labels, config.label_terms)
    clusters = []
    for c in sorted(terms):
        members = [i for i, label in enumerate(labels) if label == c]
        scores = [float(rows[i][main_score]) for i in members if main_score and rows[i].get(main_score) is not None]
        clusters.append(
            TopicCluster(
                cluster=c,
                label=", ".join(terms[c]) or f"cluster {c}",
                terms=terms[c],
                size=len(members),
                train=sum(rows[i].get("split") == "train" for i in members),
                test=sum(rows[i].get("split") == "test" for i in members),
                mean_score=sum(scores) / len(scores) if scores else None,
                examples=[_short(titles[i]) for i in members[:EXAMPLES_PER_CLUSTER]],
            )
        )
    clusters.sort(key=lambda item: -item.size)
    points = [
        MapPoint(
            sample_id=str(row["sample_id"]),
            x=round(float(x), 4),
            y=round(float(y), 4),
            cluster=label,
            split=str(row.get("split") or ""),
            text=_short(title),
        )
        for row, (x, y), label, title in zip(rows, coordinates, labels, titles, strict=True)
    ]
    outliers = [
        Outlier(
            sample_id=str(row["sample_id"]),
            split=str(row.get("split") or ""),
            source=str(row.get("source") or ""),
            text=_short(title, 300),
        )
        for row, label, title in zip(rows, labels, titles, strict=True)
        if label == NOISE
    ]
    return TopicMap(
        status="clustered",
        message=f"UMAP (2-D, cosine, {min(config.neighbors, len(rows) - 1)} neighbours, seed {config.seed}) then "
        f"HDBSCAN (min_cluster_size {min_cluster_size(len(rows), config)}): {len(clusters)} clusters, "
        f"{len(outliers)} outliers",
        clusters=clusters,
        points=points,
        outliers=outliers,
        seconds=time.perf_counter() - started,
    )
