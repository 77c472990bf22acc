"""Fixtures shared by the observability tests."""

from pathlib import Path

import pytest

from components.prometheus.alerts import AlertsConfig
from components.prometheus.rules import RULES_FILE_NAME, render_rules

from .alert_scenarios import DEPLOYMENT


@pytest.fixture(scope="session")
def alerts_cfg() -> AlertsConfig:
    """The catalog with its documented defaults (what a stack gets without overrides)."""
    return AlertsConfig()


@pytest.fixture(scope="session")
def rules_dir(tmp_path_factory: pytest.TempPathFactory, alerts_cfg: AlertsConfig) -> Path:
    """A directory holding the default rule file, for the scenarios' deployment, under its deployed name."""
    directory = tmp_path_factory.mktemp("rules")
    (directory / RULES_FILE_NAME).write_text(render_rules(alerts_cfg, DEPLOYMENT))
    return directory
