"""The topic map: sample vectors -> UMAP (2-D, seeded) -> HDBSCAN clusters, each labelled with its top c-TF-IDF terms
(BERTopic's class-based TF-IDF: a term's frequency in the cluster, weighted by how rare it is across clusters).

Clustering runs on the 2-D map itself, so what the scatter shows as a group is what the table calls a cluster."""

from __future__ import annotations

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


def reduce_to_2d(vectors: np.ndarray, config: ExplorationConfig) -> np.ndarray:
    """Seeded UMAP on the cosine neighbours. The neighbours come from scikit-learn (exact, brute force): UMAP's own
    search compiles ~15 s of numba code in every new process, more than it then runs on 2,000 samples."""
    import warnings

    from sklearn.neighbors import NearestNeighbors
    from umap import UMAP

    neighbors = min(config.neighbors, len(vectors) - 1)
    distances, indices = (
        NearestNeighbors(n_neighbors=neighbors, metric="cosine", algorithm="brute").fit(vectors).kneighbors(vectors)
    )
    with warnings.catch_warnings():  # "n_jobs overridden by random_state": seeded UMAP runs on one thread
        warnings.simplefilter("ignore")
        reducer = UMAP(
            n_components=2,
            n_neighbors=neighbors,
            min_dist=0.0,  # packed clusters: HDBSCAN separates them better
            metric="cosine",
            random_state=config.seed,
            precomputed_knn=(indices, distances.astype(np.float32), None),
        )
        return np.asarray(reducer.fit_transform(vectors), dtype=np.float64)


def cluster(coordinates: np.ndarray, config: ExplorationConfig) -> np.ndarray:
    from sklearn.cluster import HDBSCAN

    return HDBSCAN(min_cluster_size=config.min_cluster_size, copy=True).fit_predict(coordinates)


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
        f"HDBSCAN (min_cluster_size {config.min_cluster_size}): {len(clusters)} clusters, {len(outliers)} outliers",
        clusters=clusters,
        points=points,
        outliers=outliers,
        seconds=time.perf_counter() - started,
    )
