"""perfstack: load and validate the stack config, then declare the stack (infra/program.py)."""

from infra.program import program

program()
