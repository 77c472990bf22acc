"""Runbooks: one page per alert under docs/runbooks/, and every alert links to its page."""

import re
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from components.platform.slo import SloConfig
from components.prometheus.alerts import (
    REPOSITORY_URL,
    RUNBOOKS_PATH,
    AlertsConfig,
    alert_catalog,
    runbook_page,
)
from components.prometheus.rules import alerting_rules
from infra.mockrun import ProgramRun
from infra.render import config_files

from .alert_scenarios import DEPLOYMENT

RUNBOOKS = Path(__file__).resolve().parents[2] / RUNBOOKS_PATH
# With an SLO, so that its burn-rate and absent-series alerts are in the rule file too.
WITH_SLO = replace(DEPLOYMENT, slos=(("api", SloConfig()),))
CATALOG = alerting_rules(AlertsConfig(), WITH_SLO)
NAMES = sorted({spec.name for spec in CATALOG})
SECTIONS = ("## What it means", "## How to check", "## What to do", "## How to roll back")


def test_every_alert_of_the_catalog_has_its_runbook_page() -> None:
    missing = [spec.name for spec in CATALOG if not (RUNBOOKS / runbook_page(spec.name)).is_file()]
    assert missing == []


def test_every_runbook_page_belongs_to_an_alert() -> None:
    pages = {path.name for path in RUNBOOKS.glob("*.md")}
    assert pages - {runbook_page(spec.name) for spec in CATALOG} == set()


@pytest.mark.parametrize("name", NAMES)
def test_runbook_page_is_titled_by_its_alert_and_has_every_section(name: str) -> None:
    text = (RUNBOOKS / runbook_page(name)).read_text()
    assert text.startswith(f"# {name}\n")
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings == list(SECTIONS)


def test_runbook_link_points_to_the_page_in_the_repository_by_default() -> None:
    spec = next(s for s in CATALOG if s.name == "P95LatencyCritical")
    assert spec.runbook_url == f"{REPOSITORY_URL}/blob/main/docs/runbooks/p95-latency-critical.md"


def test_repository_url_setting_moves_every_runbook_link() -> None:
    cfg = AlertsConfig.model_validate({"repositoryUrl": "https://git.example.org/ops/perfstack/"})
    urls = {spec.runbook_url for spec in alerting_rules(cfg, WITH_SLO)}
    assert all(u.startswith("https://git.example.org/ops/perfstack/blob/main/docs/runbooks/") for u in urls)


def test_runbook_base_url_setting_wins_over_the_repository() -> None:
    cfg = AlertsConfig.model_validate({"runbookBaseUrl": "https://wiki.example.org/runbooks"})
    spec = next(s for s in alert_catalog(cfg) if s.name == "RedisDown")
    assert spec.runbook_url == "https://wiki.example.org/runbooks/redis-down.md"


def test_deployed_rules_link_every_alert_to_a_page_that_exists(stack_run: ProgramRun) -> None:
    # The stack files no longer override the base: links go to the repository's pages.
    groups = yaml.safe_load(config_files(stack_run)["prometheus/perfstack-rules.yml"])["groups"]
    urls = [
        rule["annotations"]["runbook_url"] for group in groups for rule in group["rules"] if "alert" in rule
    ]
    prefix = f"{REPOSITORY_URL}/blob/main/{RUNBOOKS_PATH}/"
    assert urls and all(u.startswith(prefix) and (RUNBOOKS / u.removeprefix(prefix)).is_file() for u in urls)


def test_runbook_commands_name_real_config_keys() -> None:
    # `pulumi config set --path 'perfstack:<key>'` lines must name keys the stack model has.
    from infra.docs import page_with_reference

    reference = page_with_reference((RUNBOOKS.parent / "configuration.md").read_text())
    documented = set(re.findall(r"`perfstack:([^`]+)`", reference))
    generic = {re.sub(r"\.(api|apiCaching)\b", ".<name>", key) for key in documented}
    used = {
        re.sub(r"\.(api|apiCaching)\b", ".<name>", key)
        for page in RUNBOOKS.glob("*.md")
        for key in re.findall(r"perfstack:([A-Za-z.]+)", page.read_text())
    }
    assert used - documented - generic == set()
