from collections import Counter
from collections.abc import Callable

from llm_engineering.domain.samples import FailedGeneration


class TooManyFailedGenerations(RuntimeError):
    pass


def check_generation_budget(
    succeeded: int,
    failures: list[FailedGeneration],
    max_failed_fraction: float,
    keep: Callable[[], str] | None = None,
) -> None:
    """Failures are recorded and counted; past the configured share the step fails rather than
    publishing a dataset built from a fraction of its sources.

    The error names the most common causes and quotes the first failure of the most common one. `keep` is called
    before raising: it saves what was generated, failures included, and says where (a failed step has no outputs)."""
    attempted = succeeded + len(failures)
    if not attempted or len(failures) / attempted <= max_failed_fraction:
        return
    counts = Counter(f.kind for f in failures).most_common(5)
    causes = ", ".join(f"{kind} ({count})" for kind, count in counts)
    first = next(f for f in failures if f.kind == counts[0][0])
    example = first.error + (f"; raw output: {first.raw_output[:300]!r}" if first.raw_output else "")
    kept = f"; every failure, with its raw output, is kept in {keep()}" if keep is not None else ""
    raise TooManyFailedGenerations(
        f"{len(failures)} of {attempted} generations failed (> max_failed_fraction {max_failed_fraction:.0%}); "
        f"most common: {causes}; first: {example}{kept}"
    )
