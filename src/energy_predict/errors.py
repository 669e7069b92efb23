"""The few exceptions the CLI turns into one red line and exit code 2."""


class EnergyPredictError(Exception):
    """A user-facing error: the message names what is wrong and how to fix it."""


class InputError(EnergyPredictError):
    """Bad input (profile, trace, grid, config)."""

    def __init__(self, field: str, problem: str, fix: str) -> None:
        self.field, self.problem, self.fix = field, problem, fix  # kept apart: a caller may name another field
        # one line whatever the parts hold (a file name or a value with a newline in it)
        super().__init__(" ".join(f"{field}: {problem}; {fix}".split()))
