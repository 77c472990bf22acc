"""The perfstack policy pack: `pulumi preview|up --policy-pack policy`.

The Pulumi analyzer runs this file as `__main__` from the pack directory
(`python -m pulumi.policy ENGINE policy/` does `runpy.run_path`, and
`run-policy-pack` runs it directly), with the stack being checked in
`PULUMI_STACK`, which the caller of the CLI sets (see README.md).
Constructing `PolicyPack` starts the analyzer's gRPC server and never
returns, so it happens only in `main()`; importing this module (tests,
tooling) just defines the policies.

Enforcement: mandatory in production, advisory in staging, mandatory for a
stack this file does not know (a run that cannot tell where it is fails
closed). A `--policy-pack-config` file still overrides any policy's level.
"""

import os
from collections.abc import Mapping

from pulumi_policy import (
    EnforcementLevel,
    PolicyPack,
    ReportViolation,
    ResourceValidation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

if __package__:  # imported as policy.__main__ from the repository root
    from . import rules
else:  # run by the analyzer: the pack directory is on sys.path
    import rules  # type: ignore[no-redef]

PACK_NAME = "perfstack"
STACK_VARIABLE = "PULUMI_STACK"
# Stacks where a violation is reported but does not stop the update.
ADVISORY_STACKS = frozenset({"staging"})


def stack_from_environment(environ: Mapping[str, str]) -> str:
    """The stack the engine runs the pack for (`org/project/stack` forms reduced to the stack)."""
    return environ.get(STACK_VARIABLE, "").rsplit("/", 1)[-1]


def pack_enforcement(stack: str) -> EnforcementLevel:
    """The pack-wide level: advisory on staging, mandatory on production and on any other stack."""
    return EnforcementLevel.ADVISORY if stack in ADVISORY_STACKS else EnforcementLevel.MANDATORY


def validation_for(rule: rules.Rule) -> ResourceValidation:
    """A pulumi_policy validate callback that reports each message of ``rule.check``."""

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for message in rule.check(args.resource_type, args.name, args.props):
            report_violation(message, None)

    validate.__doc__ = rule.check.__doc__
    return validate


def build_policies() -> list[ResourceValidationPolicy]:
    """One ResourceValidationPolicy per rule, at the pack's enforcement level."""
    return [
        ResourceValidationPolicy(
            name=rule.name,
            description=rule.description,
            validate=validation_for(rule),
        )
        for rule in rules.RULES
    ]


def main(environ: Mapping[str, str] = os.environ) -> None:
    """Serve the pack to the engine (blocks until the engine stops it)."""
    PolicyPack(
        name=PACK_NAME,
        policies=build_policies(),
        enforcement_level=pack_enforcement(stack_from_environment(environ)),
        description="perfstack guardrails: pinned images, resource limits, Redis durability, "
        "no external Service types, no plaintext secrets, sane canary weights.",
    )


if __name__ == "__main__":
    main()
