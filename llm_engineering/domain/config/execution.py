"""How the feature pipeline's heavy data stages compute: in the step's own process, or on a Ray cluster.

The stages that fan out (embedding, MinHash signatures and LSH banding, semantic-dedup neighbour search) give the
same results either way; the ZenML step stays the unit of lineage and caching, Ray is only how the step computes.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from llm_engineering.domain.config.base import StrictModel


class ExecutionConfig(StrictModel):
    engine: Literal["local", "ray"] = Field(
        "local", description="local: in the step's process; ray: batches run on Ray workers (pip extra `[ray]`)"
    )
    address: str | None = Field(
        None,
        description="the Ray cluster: 'host:port' of a head node's GCS (e.g. 127.0.0.1:6379, `ray start --head`), "
        "'ray://host:10001' (Ray client), or 'auto'; null starts a local Ray on this machine for the run",
    )
    num_workers: int = Field(2, ge=1, description="Ray workers (actors) a stage spreads its batches over")
    cpus_per_worker: float = Field(
        1.0,
        gt=0,
        description="CPUs Ray reserves per worker; its torch/BLAS threads are this, at least 2 (torch's one-thread "
        "kernels round differently: 2 or more give the local engine's vectors byte for byte)",
    )
    max_retries: int = Field(
        2,
        ge=0,
        description="a worker that dies mid-batch is restarted and the batch runs again, this many times per worker "
        "(workers are kept for the run's later stages); then the stage fails, naming the batch (what was stored "
        "before it stays whole, nothing after it is written) and the next stage starts new workers",
    )

    @model_validator(mode="after")
    def _address_needs_ray(self) -> ExecutionConfig:
        if self.engine == "local" and self.address is not None:
            raise ValueError("address is only used with engine: ray (set engine: ray, or remove address)")
        return self
