"""The two kinds of trouble a run can meet, kept apart from a model's wrong answers."""


class UsageError(Exception):
    """Bad input from the user (option, data set, samples file): names the problem and the fix."""


class InfrastructureError(Exception):
    """The harness could not produce a verdict (sandbox crash, data problem): an E, not an F."""


class Retryable(Exception):
    """A failure worth another try (rate limit, server error, timeout, dropped connection): raised
    by a model backend, retried by ``generation.with_retries``."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
