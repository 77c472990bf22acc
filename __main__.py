"""perfstack: load and validate the stack config, then declare the stack."""

from infra.loader import load_stack
from infra.stack import build_stack

config, secrets = load_stack()
build_stack(config, secrets)
