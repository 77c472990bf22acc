"""The image recipe, checked without Docker: pinned base, non-root user, installs and commands that exist."""

import importlib.metadata
import importlib.util
import json
import re
from pathlib import Path

import pytest
from perfstack_demo.settings import Settings

from tests.demo import DEMO_DIR

REPO = DEMO_DIR.parent
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[0-9][A-Za-z0-9.!+-]*)$")


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of demo/Dockerfile, continuation lines joined, comments dropped."""
    lines: list[str] = []
    pending = ""
    for raw in (DEMO_DIR / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        lines.append(pending + line)
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def only(name: str) -> str:
    """The arguments of the one `name` instruction."""
    found = [args for instruction, args in instructions() if instruction == name]
    assert len(found) == 1, f"expected one {name}, found {found}"
    return found[0]


def exec_form(args: str) -> list[str]:
    """A JSON-array (exec form) command: no shell between the container runtime and Python."""
    command = json.loads(args)
    assert isinstance(command, list) and all(isinstance(part, str) for part in command)
    return command


def requirement_lines(path: Path) -> list[str]:
    """The non-comment lines of a requirements file."""
    stripped = (line.strip() for line in path.read_text().splitlines())
    return [line for line in stripped if line and not line.startswith("#")]


def test_the_base_image_is_python_311_slim_with_a_pinned_patch_version() -> None:
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-[a-z]+)?(@sha256:[0-9a-f]{64})?", only("FROM"))


def test_it_runs_as_the_numeric_non_root_user_65534() -> None:
    assert only("USER").split(":")[0] == "65534"


def test_it_exposes_the_port_the_app_listens_on_by_default() -> None:
    assert only("EXPOSE") == "8080"
    assert Settings.from_env({}).port == 8080
    assert Settings.from_env({}).host == "0.0.0.0"
    assert Settings.from_env({"PORT": "9000"}).port == 9000


def test_every_requirement_is_pinned_and_installed_at_that_version() -> None:
    lines = requirement_lines(DEMO_DIR / "requirements.txt")
    assert lines
    for line in lines:
        match = PIN.match(line)
        assert match, f"not an exact == pin: {line}"
        assert importlib.metadata.version(match["name"]) == match["version"], line


def test_it_installs_the_requirements_file_it_copies() -> None:
    copies = [args.split() for instruction, args in instructions() if instruction == "COPY"]
    assert ["requirements.txt", "./"] in copies
    runs = [args for instruction, args in instructions() if instruction == "RUN"]
    assert any("pip install" in args and "-r requirements.txt" in args for args in runs)
    for *sources, _ in copies:
        for source in sources:
            assert (DEMO_DIR / source).exists(), source


def test_the_command_runs_the_server_module() -> None:
    command = exec_form(only("CMD"))
    assert command[:2] == ["python", "-m"]
    module = command[2]
    assert importlib.util.find_spec(module) is not None
    main = importlib.util.find_spec(f"{module}.__main__")
    assert main is not None and main.origin is not None
    # The module serves with uvicorn on the settings' host and port ($HOST, $PORT).
    source = Path(main.origin).read_text()
    assert "uvicorn.Config(" in source
    assert "host=settings.host" in source
    assert "port=settings.port" in source


def test_the_health_check_module_exists() -> None:
    args = only("HEALTHCHECK")
    command = exec_form(args[args.index("CMD") + len("CMD") :].strip())
    assert command[:2] == ["python", "-m"]
    assert importlib.util.find_spec(command[2]) is not None


@pytest.mark.parametrize("module", ["perfstack_demo.loadgen", "perfstack_demo.healthcheck"])
def test_the_other_commands_of_the_image_are_importable(module: str) -> None:
    assert importlib.util.find_spec(module) is not None


def test_the_image_needs_no_writable_filesystem_for_bytecode() -> None:
    env = only("ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    assert "PYTHONPATH=/app" in env
    assert any("compileall" in args for instruction, args in instructions() if instruction == "RUN")


def test_the_dev_requirements_install_the_demo_requirements() -> None:
    assert "-r demo/requirements.txt" in requirement_lines(REPO / "requirements-dev.txt")
