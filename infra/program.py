"""The Pulumi program as one function: what `__main__.py` runs and what the Automation API runs inline."""

from infra.loader import load_stack
from infra.stack import build_stack


def program() -> None:
    """Load and validate the stack config as a whole, then declare the stack.

    Nothing is declared before the config is valid: a bad value or a missing
    secret stops here with every problem named by its config key.
    """
    config, secrets = load_stack()
    build_stack(config, secrets)
