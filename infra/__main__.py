"""`python -m infra render STACK --out DIR [--set KEY=VALUE ...]`.

Runs the real program under mocks (no engine, no credentials, no cluster)
and writes what it would deploy, for reviewers and CI.
"""

import argparse
import gc
import os
import sys
from pathlib import Path

import yaml


def _override(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r}: expected KEY=VALUE, e.g. services.api.canary.weight=50")
    return key.removeprefix("perfstack:"), yaml.safe_load(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    render = commands.add_parser("render", help="write resources.json, files/ and manifests/ for a stack")
    render.add_argument("stack", help="stack name: reads Pulumi.<stack>.yaml")
    render.add_argument("--out", type=Path, required=True, help="output directory")
    render.add_argument(
        "--set",
        dest="overrides",
        action="append",
        type=_override,
        default=[],
        metavar="KEY=VALUE",
        help="override a config value by dotted path under perfstack: (value parsed as YAML); repeatable",
    )
    render.add_argument(
        "--stack-file",
        type=Path,
        metavar="PATH",
        help="read the config from this file instead of Pulumi.<stack>.yaml (e.g. a proposed stack file)",
    )
    args = parser.parse_args(argv)
    stack_file = args.stack_file or Path(__file__).resolve().parent.parent / f"Pulumi.{args.stack}.yaml"
    if not stack_file.exists():
        parser.error(f"no {stack_file}")
    # Imported here, after `__main__` has turned the collector off (below).
    from infra.loader import ConfigError
    from infra.mockrun import run_program, stack_file_config
    from infra.render import write_render

    try:
        run = run_program(
            args.stack, config=stack_file_config(args.stack, stack_file), overrides=dict(args.overrides)
        )
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    write_render(run, args.out)
    print(f"wrote {len(run.resources)} resources to {args.out}")
    return 0


if __name__ == "__main__":
    # A render is one short process whose objects nearly all live until it exits
    # (the SDKs' modules and types, then the resource graph): the collector would
    # scan them again and again and free almost nothing.
    gc.disable()
    status = main()
    # Tearing that heap down object by object costs a tenth of the run, and
    # nothing in it needs a destructor: every file is written and closed.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
