"""`python -m rollout`: bad input and an unreachable Prometheus are clear errors, never a verdict."""

import io
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rollout.cli import EXIT_BAD_INPUT, EXIT_PROMETHEUS, main

REPO = Path(__file__).resolve().parents[2]
UNREACHABLE = "http://127.0.0.1:9"  # discard: nothing answers there


def run(*argv: str, project_dir: Path = REPO) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main([*argv, "--project-dir", str(project_dir)], stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for name in ("Pulumi.yaml", "Pulumi.staging.yaml", "Pulumi.production.yaml"):
        shutil.copy(REPO / name, tmp_path / name)
    return tmp_path


def test_an_unreachable_prometheus_is_an_error_and_no_decision() -> None:
    status, out, err = run("decide", "staging", "--prometheus", UNREACHABLE)
    assert status == EXIT_PROMETHEUS
    assert out == ""
    assert "unreachable" in err and "never a healthy canary" in err


def test_a_prometheus_that_is_not_prometheus_is_an_error(tmp_path: Path) -> None:
    # An HTTP server answering 404 to the query API.
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = server.stdout.readline().split("port ")[1].split()[0]
        status, _, err = run("decide", "staging", "--prometheus", f"http://127.0.0.1:{port}")
    finally:
        server.terminate()
        server.wait()
    assert status == EXIT_PROMETHEUS
    assert "refused a query: HTTP 501" in err


def test_an_unknown_service_is_refused_naming_the_known_ones() -> None:
    status, _, err = run("decide", "staging", "--service", "web", "--prometheus", UNREACHABLE)
    assert status == EXIT_BAD_INPUT
    assert "--service: no service 'web'" in err and "services: api" in err


def test_an_unknown_stack_is_refused() -> None:
    status, _, err = run("decide", "qa", "--prometheus", UNREACHABLE)
    assert status == EXIT_BAD_INPUT
    assert "no stack file Pulumi.qa.yaml" in err


@pytest.mark.parametrize("option", ["--at", "--step-started"])
def test_a_time_without_a_zone_is_refused_naming_the_option(option: str) -> None:
    status, _, err = run("decide", "staging", option, "2026-12-03 14:00", "--prometheus", UNREACHABLE)
    assert status == EXIT_BAD_INPUT
    assert f"{option}: '2026-12-03 14:00' is not an RFC 3339 time with a zone" in err


def test_a_kubernetes_stack_needs_its_prometheus_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PERFSTACK_PROMETHEUS_URL", raising=False)
    status, _, err = run("decide", "production")
    assert status == EXIT_BAD_INPUT
    assert "--prometheus" in err and "PERFSTACK_PROMETHEUS_URL" in err


def test_a_docker_stack_defaults_to_its_published_prometheus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PERFSTACK_PROMETHEUS_URL", raising=False)
    status, _, err = run("decide", "staging")
    assert status == EXIT_PROMETHEUS
    assert "http://127.0.0.1:9090" in err


def test_a_bad_rollout_setting_is_refused_naming_the_key(project: Path) -> None:
    path = project / "Pulumi.staging.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"]["perfstack:services"]["api"]["rollout"] = {"minRequests": 0}
    path.write_text(yaml.safe_dump(document))
    status, _, err = run("decide", "staging", "--prometheus", UNREACHABLE, project_dir=project)
    assert status == EXIT_BAD_INPUT
    assert "perfstack:services.api.rollout.minRequests" in err


def test_apply_with_an_unreachable_prometheus_leaves_the_stack_file_alone(project: Path) -> None:
    before = (project / "Pulumi.staging.yaml").read_bytes()
    status, _, _ = run("apply", "staging", "--prometheus", UNREACHABLE, project_dir=project)
    assert status == EXIT_PROMETHEUS
    assert (project / "Pulumi.staging.yaml").read_bytes() == before


def test_help_documents_both_commands_and_the_exit_statuses() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "rollout", "--help"], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert "decide" in result.stdout and "apply" in result.stdout
    assert "Exit status: 0 with a decision" in result.stdout


def test_the_help_of_decide_lists_every_option() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "rollout", "decide", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    for option in ("--service", "--prometheus", "--at", "--step-started", "--json"):
        assert option in result.stdout
