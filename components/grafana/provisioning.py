"""Grafana provisioning: datasources, the dashboard provider, and the container environment.

Files (official grafana/grafana image):
    DATASOURCES_PATH   datasources YAML (Prometheus uid "prometheus", Jaeger uid "jaeger")
    PROVIDER_PATH      dashboard provider YAML (folder "perfstack")
    DASHBOARDS_DIR     dashboard JSON files from components/grafana/dashboards.py
The admin password is a secret file mounted at ADMIN_PASSWORD_FILE and read
through GF_SECURITY_ADMIN_PASSWORD__FILE; anonymous access is off. Port 3000.
"""

import yaml

PORT = 3000
"""Grafana HTTP port."""
PROVISIONING_DIR = "/etc/grafana/provisioning"
"""The image's provisioning root (GF_PATHS_PROVISIONING)."""
DATASOURCES_PATH = f"{PROVISIONING_DIR}/datasources/perfstack.yaml"
"""Where the datasources file is mounted."""
PROVIDER_PATH = f"{PROVISIONING_DIR}/dashboards/perfstack.yaml"
"""Where the dashboard provider file is mounted."""
DASHBOARDS_DIR = "/var/lib/grafana/dashboards"
"""Where the dashboard JSON files are mounted (the provider reads this directory)."""
DASHBOARD_FOLDER = "perfstack"
"""Grafana folder the dashboards appear in."""
ADMIN_PASSWORD_FILE = "/run/secrets/grafana-admin-password"
"""Where the admin password secret file is mounted."""

PROMETHEUS_UID = "prometheus"
"""Datasource uid the dashboards refer to."""
JAEGER_UID = "jaeger"
"""Datasource uid of Jaeger (trace links from Prometheus exemplars)."""


def render_datasources(prometheus_url: str, jaeger_url: str) -> str:
    """Datasources provisioning YAML; fixed uids so dashboards and links never depend on names."""
    for url in (prometheus_url, jaeger_url):
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"{url!r} is not an http(s) URL")
    document = {
        "apiVersion": 1,
        "datasources": [
            {
                "name": "Prometheus",
                "type": "prometheus",
                "uid": PROMETHEUS_UID,
                "access": "proxy",
                "url": prometheus_url,
                "isDefault": True,
                # Provisioned means managed here: UI edits would be lost on the next deploy anyway.
                "editable": False,
                "jsonData": {
                    "timeInterval": "15s",
                    "exemplarTraceIdDestinations": [{"name": "trace_id", "datasourceUid": JAEGER_UID}],
                },
            },
            {
                "name": "Jaeger",
                "type": "jaeger",
                "uid": JAEGER_UID,
                "access": "proxy",
                "url": jaeger_url,
                "editable": False,
            },
        ],
    }
    return yaml.safe_dump(document, sort_keys=False)


def render_dashboard_provider(path: str = DASHBOARDS_DIR, folder: str = DASHBOARD_FOLDER) -> str:
    """Dashboard provider YAML: load every JSON file in `path` into `folder`, read-only."""
    document = {
        "apiVersion": 1,
        "providers": [
            {
                "name": "perfstack",
                "orgId": 1,
                "folder": folder,
                "type": "file",
                # Dashboards are code: deleting or editing them in the UI must not stick.
                "disableDeletion": True,
                "allowUiUpdates": False,
                "updateIntervalSeconds": 30,
                "options": {"path": path, "foldersFromFilesStructure": False},
            }
        ],
    }
    return yaml.safe_dump(document, sort_keys=False)


def grafana_environment(admin_password_file: str = ADMIN_PASSWORD_FILE) -> dict[str, str]:
    """Environment of the Grafana container: no anonymous access, admin password from a file."""
    return {
        "GF_PATHS_PROVISIONING": PROVISIONING_DIR,
        "GF_SECURITY_ADMIN_USER": "admin",
        # __FILE makes Grafana read the value from the file: the password is never in env or config.
        "GF_SECURITY_ADMIN_PASSWORD__FILE": admin_password_file,
        "GF_AUTH_ANONYMOUS_ENABLED": "false",
        "GF_AUTH_DISABLE_LOGIN_FORM": "false",
        "GF_USERS_ALLOW_SIGN_UP": "false",
        "GF_ANALYTICS_REPORTING_ENABLED": "false",
        "GF_ANALYTICS_CHECK_FOR_UPDATES": "false",
    }
