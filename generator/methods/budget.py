"""The memory budget of a model process, in the units the command line takes (GiB).

TensorFlow-free, so that the command line checks `--memory-budget` before TensorFlow loads;
`memory.MemoryPlan` turns a budget into how many inputs each pass holds at once.
"""

GIB = 1 << 30
# A model process of any of the 40 models fits it (`memory.py` says how a plan is made), and
# with the build process (under 1 GiB) and the system it fits a 16 GB runner (GitHub's standard
# Linux runner) with room to spare.
DEFAULT_BUDGET_GIB = 12.0


def budget_bytes(gib: float) -> int:
    """A budget in GiB, in bytes."""
    return int(gib * GIB)


class OverBudget(RuntimeError):
    """Nothing of a model fits the memory budget; the message names what it needs."""
