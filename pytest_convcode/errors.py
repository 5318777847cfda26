"""The two kinds of trouble a run can meet, kept apart from a model's wrong answers."""


class UsageError(Exception):
    """Bad input from the user (option, data set, samples file): names the problem and the fix."""


class InfrastructureError(Exception):
    """The harness could not produce a verdict (sandbox crash, data problem): an E, not an F."""
