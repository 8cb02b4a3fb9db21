from collections import Counter

from llm_engineering.domain.samples import FailedGeneration


class TooManyFailedGenerations(RuntimeError):
    pass


def check_generation_budget(succeeded: int, failures: list[FailedGeneration], max_failed_fraction: float) -> None:
    """Failures are recorded and counted; past the configured share the step fails rather than
    publishing a dataset built from a fraction of its sources."""
    attempted = succeeded + len(failures)
    if attempted and len(failures) / attempted > max_failed_fraction:
        reasons = Counter(f.kind for f in failures).most_common(5)
        raise TooManyFailedGenerations(
            f"{len(failures)} of {attempted} generations failed "
            f"(> max_failed_fraction {max_failed_fraction:.0%}); most common: {reasons}"
        )
