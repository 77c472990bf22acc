"""Grafana provisioning: datasources, the dashboard provider, and the container environment.

Files (official grafana/grafana image, Grafana 12):
    DATASOURCES_PATH   datasources YAML (Prometheus uid "prometheus", Jaeger uid "jaeger")
    PROVIDER_PATH      dashboard provider YAML (folder "perfstack")
    DASHBOARDS_DIR     dashboard JSON files from components/grafana/dashboards.py
The admin password is a secret file mounted at ADMIN_PASSWORD_FILE and read
through GF_SECURITY_ADMIN_PASSWORD__FILE; anonymous access is off. Port 3000.

UIDs (datasources and dashboards) follow Grafana 12's rule: letters, digits,
`-` and `_`, at most 40 characters. Grafana 12 refuses a provisioned
datasource whose UID breaks it (the `failWrongDSUID` toggle is on by default),
so :func:`check_uid` refuses it here first.
"""

import re

import yaml

PORT = 3000
"""Grafana HTTP port."""
PROVISIONING_DIR = "/etc/grafana/provisioning"
"""The image's provisioning root (GF_PATHS_PROVISIONING)."""
DATASOURCES_PATH = f"{PROVISIONING_DIR}/datasources/perfstack.yaml"
"""Where the datasources file is mounted."""
PROVIDER_PATH = f"{PROVISIONING_DIR}/dashboards/perfstack.yaml"
"""Where the dashboard provider file is mounted."""
DASHBOARDS_DIR = "/etc/grafana/dashboards"
"""Where the dashboard JSON files are mounted (the provider reads this directory). Outside the
writable data dir /var/lib/grafana: the tmpfs or emptyDir mounted there would hide them."""
DASHBOARD_FOLDER = "perfstack"
"""Grafana folder the dashboards appear in."""
ADMIN_PASSWORD_FILE = "/run/secrets/grafana-admin-password"
"""Where the admin password secret file is mounted."""

PROMETHEUS_UID = "prometheus"
"""Datasource uid the dashboards refer to."""
JAEGER_UID = "jaeger"
"""Datasource uid of Jaeger (trace links from Prometheus exemplars)."""
DEFAULT_SCRAPE_INTERVAL = "15s"
"""Prometheus' default scrape interval (`prometheus.scrapeInterval`)."""

_UID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


def check_uid(uid: str, what: str) -> str:
    """``uid`` if Grafana 12 accepts it as a datasource or dashboard UID; else ValueError naming ``what``."""
    if not _UID.match(uid):
        raise ValueError(f"{what} uid {uid!r}: Grafana 12 wants 1 to 40 letters, digits, '-' or '_'")
    return uid


def render_datasources(
    prometheus_url: str, jaeger_url: str, scrape_interval: str = DEFAULT_SCRAPE_INTERVAL
) -> str:
    """Datasources provisioning YAML; fixed uids so dashboards and links never depend on names.

    `scrape_interval` is Prometheus' (`timeInterval`): Grafana's smallest `$__interval` and the
    floor of `$__rate_interval` (4 scrapes), so a rate never spans fewer samples than it needs.
    """
    for url in (prometheus_url, jaeger_url):
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"{url!r} is not an http(s) URL")
    for uid in (PROMETHEUS_UID, JAEGER_UID):
        check_uid(uid, "datasource")
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
                    "timeInterval": scrape_interval,
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
    return yaml.dump(document, Dumper=yaml.CSafeDumper, sort_keys=False, width=4096)


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
    return yaml.dump(document, Dumper=yaml.CSafeDumper, sort_keys=False, width=4096)


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
