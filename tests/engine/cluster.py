"""A throwaway Kubernetes control plane on 127.0.0.1 for the engine tests.

`LocalCluster` runs etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and kwok (which plays the kubelets of fake Nodes, so pods
become Ready without containers) from the binaries ``tools/build.py`` builds,
and prepares what the production stack expects of a cluster: schedulable
Nodes, a default StorageClass with Available PersistentVolumes, and the
Gateway API with the Gateway that the stack's HTTPRoutes attach to.

Everything lives in one temporary directory (certificates, etcd data, a log
per process) that is removed on exit. Nothing listens beyond 127.0.0.1.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import yaml

from infra.platforms import GatewayRef, KubernetesConfig

REPO = Path(__file__).resolve().parents[2]
PRODUCTION_STACK_FILE = REPO / "Pulumi.production.yaml"

FAKE_NODE_ANNOTATION = ("kwok.x-k8s.io/node", "fake")
"""The annotation kwok selects the Nodes it manages by (``--manage-nodes-with-annotation-selector``)."""

DEFAULT_STORAGE_CLASS = "standard"
LOCAL_PV_LABEL = "perfstack.test/local-pv"
SERVICE_CLUSTER_IP_RANGE = "10.96.0.0/16"
POD_CIDR = "10.244.0.0/16"
GATEWAY_CLASS = "perfstack-local"
# Nothing reconciles this controller name: Gateway status stays "Waiting for
# controller", which is all a cluster without a data plane can honestly say.
GATEWAY_CONTROLLER = "perfstack.invalid/no-controller"

# kwok renews each fake Node's Lease every quarter of this, well inside the
# node lifecycle controller's 50 s grace period. Without
# --node-lease-duration-seconds kwok writes no Leases: ~50 s after start the
# controller marks the Nodes NotReady and their pods not Ready, and although
# kwok sets the Nodes Ready again within seconds, the pods stay not Ready.
NODE_LEASE_SECONDS = 40

T = TypeVar("T")

_PR_SET_PDEATHSIG = 1


class ClusterError(RuntimeError):
    """The local cluster failed to start, a component died, or a bounded wait ran out."""


class ApiError(RuntimeError):
    """The API server answered a request with an HTTP error status."""

    def __init__(self, status: int, url: str, body: str) -> None:
        super().__init__(f"HTTP {status} from {url}: {body[:500]}")
        self.status = status
        self.body = body


class KubectlError(RuntimeError):
    """kubectl exited non-zero; the message carries its stdout and stderr."""

    def __init__(self, result: subprocess.CompletedProcess[str]) -> None:
        super().__init__(
            f"{' '.join(result.args)} exited {result.returncode}\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        )
        self.result = result


@dataclass(frozen=True)
class ClusterTools:
    """Where the binaries and data of the cluster come from (the ``tools/build.py`` cache dirs)."""

    kube: Path
    """Directory holding kube-apiserver, kube-controller-manager, kube-scheduler and kubectl."""
    etcd: Path
    """The etcd binary."""
    kwok: Path
    """The kwok binary."""
    kwok_stages: Path
    """kwok's Node and Pod stages (a standalone kwok has none and refuses to start)."""
    gateway_api_crds: Path
    """Directory of the Gateway API standard CRD manifests."""

    @classmethod
    def from_cache_dirs(cls, *, kube: Path, etcd: Path, kwok: Path, gateway_api: Path) -> ClusterTools:
        """The layout ``tools/build.py`` gives each tool: binaries in ``bin/``, data in ``share/``."""
        return cls(
            kube=kube / "bin",
            etcd=etcd / "bin" / "etcd",
            kwok=kwok / "bin" / "kwok",
            kwok_stages=kwok / "share" / "stages.yaml",
            gateway_api_crds=gateway_api / "share" / "crds",
        )


def production_gateway(stack_file: Path = PRODUCTION_STACK_FILE) -> GatewayRef:
    """The Gateway the production stack attaches its routes to, as its stack file (or the defaults) says."""
    config = yaml.safe_load(stack_file.read_text()).get("config") or {}
    return KubernetesConfig.model_validate(config.get("perfstack:kubernetes") or {}).gateway


@dataclass
class _Component:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 30) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError as error:
            return f"(no log: {error})"
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class _Ports:
    etcd_client: int
    etcd_peer: int
    apiserver: int
    scheduler: int


@dataclass
class LocalCluster:
    """A started-on-enter, torn-down-on-exit control plane with fake Nodes (see the module docstring).

    Use as a context manager; the attributes below are valid inside it.
    """

    tools: ClusterTools
    gateway: GatewayRef = field(default_factory=production_gateway)
    """The Gateway created in the cluster (name and namespace)."""
    node_count: int = 3
    """Fake Nodes (one zone each), enough for three replicas spread by hostname or zone."""
    # A few stack deploys' worth of claims: a bound PV is never reused (Retain).
    pv_count: int = 24
    """PersistentVolumes of the default StorageClass, Available before `start` returns."""
    # Larger than the biggest claim in the stack files (Prometheus, 50Gi).
    pv_size: str = "100Gi"
    """Capacity of each PersistentVolume."""
    startup_timeout: float = 60.0
    """Upper bound of each start-up wait, in seconds."""

    workdir: Path = field(init=False)
    kubeconfig: Path = field(init=False)
    """A kubeconfig (admin token, embedded CA) for kubectl, Pulumi's provider and the like."""
    api_server: str = field(init=False)
    """The API server's URL, ``https://127.0.0.1:<port>``."""
    ca_file: Path = field(init=False)
    """The CA certificate that signed the API server's serving certificate."""
    startup_seconds: float = field(init=False, default=0.0)
    """How long `start` took, for the test report."""

    _token: str = field(init=False, repr=False)
    _ssl: ssl.SSLContext = field(init=False, repr=False)
    _components: list[_Component] = field(init=False, default_factory=list, repr=False)

    # -- lifecycle ---------------------------------------------------------

    def __enter__(self) -> LocalCluster:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def start(self) -> None:
        """Start every component and create the Nodes, storage and Gateway; return when all are usable."""
        started = time.monotonic()
        self.workdir = Path(tempfile.mkdtemp(prefix="perfstack-cluster-"))
        (self.workdir / "logs").mkdir()
        ports = _Ports(*_free_ports(4))
        self.api_server = f"https://127.0.0.1:{ports.apiserver}"
        pki = self._write_pki()
        self._ssl = ssl.create_default_context(cafile=str(self.ca_file))

        self._start_etcd(ports)
        self._start_apiserver(ports, pki)
        self.kubeconfig = self._write_kubeconfig()
        self._start_controllers(ports, pki)

        self.kubectl(
            "apply",
            "--server-side",
            "--field-manager=perfstack-cluster",
            "-f",
            str(self.tools.gateway_api_crds),
            "-f",
            "-",
            input=yaml.safe_dump_all(self._bootstrap_objects()),
        )
        self._wait_crds_established()
        self._apply_gateway()
        self._wait_ready(ports)
        self.startup_seconds = time.monotonic() - started

    def close(self) -> None:
        """Stop every process (SIGTERM, then SIGKILL after a few seconds) and delete the work directory."""
        running = [c.process for c in self._components if c.process.poll() is None]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
        deadline = time.monotonic() + 5
        for process in running:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._components.clear()
        workdir = getattr(self, "workdir", None)
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)

    # -- clients -------------------------------------------------------------

    @property
    def env(self) -> dict[str, str]:
        """os.environ with KUBECONFIG pointing at this cluster, for tools run against it."""
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig)}

    @property
    def node_names(self) -> list[str]:
        """Names of the fake Nodes kwok manages."""
        return [f"kwok-node-{index}" for index in range(self.node_count)]

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl against this cluster; raises `KubectlError` on a non-zero exit when ``check``."""
        cmd = [
            str(self.tools.kube / "kubectl"),
            f"--kubeconfig={self.kubeconfig}",
            # Keeps the discovery cache out of ~/.kube and away from other clusters.
            f"--cache-dir={self.workdir / 'kubectl-cache'}",
            *args,
        ]
        result = subprocess.run(
            cmd, input=input, capture_output=True, text=True, timeout=timeout, env=self.env, check=False
        )
        if check and result.returncode != 0:
            raise KubectlError(result)
        return result

    def apply(
        self, objects: str | Iterable[Mapping[str, Any]], *, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Server-side apply YAML text or objects; admission warnings end up in the result's stderr."""
        text = objects if isinstance(objects, str) else yaml.safe_dump_all(list(objects))
        return self.kubectl(
            "apply", "--server-side", "--field-manager=perfstack-tests", "-f", "-", input=text, check=check
        )

    def request(self, path: str, *, method: str = "GET", body: Any = None) -> tuple[int, str]:
        """One authenticated request to the API server: (status, body text), also for error statuses."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.api_server + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self._token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, context=self._ssl, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(errors="replace")

    def get(self, path: str, **query: str) -> Any:
        """GET ``path`` with query parameters and decode the JSON; `ApiError` on an error status."""
        url = path + ("?" + urllib.parse.urlencode(query) if query else "")
        status, text = self.request(url)
        if status >= 400:
            raise ApiError(status, url, text)
        return json.loads(text)

    def events(self, namespace: str, reason: str | None = None) -> list[dict[str, Any]]:
        """The core/v1 Events of ``namespace`` (optionally only those with ``reason``), oldest first.

        Admission refusals of controller-made pods (PodSecurity ``enforce``)
        surface only here, as ``FailedCreate`` events, never as a failed apply.
        """
        query = {"fieldSelector": f"reason={reason}"} if reason else {}
        items: list[dict[str, Any]] = self.get(f"/api/v1/namespaces/{namespace}/events", **query)["items"]
        return sorted(items, key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")

    def wait_for_events(self, namespace: str, reason: str, *, timeout: float = 30.0) -> list[dict[str, Any]]:
        """The ``reason`` events of ``namespace`` once there is one; `ClusterError` after ``timeout`` s."""
        return self.wait_until(
            lambda: self.events(namespace, reason), timeout=timeout, what=f"a {reason} event in {namespace}"
        )

    def wait_until(
        self,
        check: Callable[[], T],
        *,
        timeout: float,
        what: str,
        components: Sequence[str] = (),
        interval: float = 0.1,
    ) -> T:
        """Poll ``check`` until it returns something truthy and return that.

        Connection and API errors count as "not yet". After ``timeout`` seconds,
        or as soon as a component has died, raises `ClusterError` with the last
        error and the log tails of ``components`` (all of them when empty).
        """
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while True:
            self._check_alive()
            try:
                result = check()
            except (ApiError, OSError, KubectlError) as error:
                result, last_error = None, error  # type: ignore[assignment]
            if result:
                return result
            if time.monotonic() >= deadline:
                message = f"timed out after {timeout:.0f} s waiting for {what}"
                if last_error is not None:
                    message += f"\nlast error: {last_error}"
                raise ClusterError(message + self._log_tails(components))
            time.sleep(interval)

    # -- start-up steps ------------------------------------------------------

    def _write_pki(self) -> dict[str, Path]:
        """A CA, the API server's serving certificate, the service-account key pair and the token file."""
        pki = self.workdir / "pki"
        pki.mkdir()
        files = {
            name: pki / name for name in ("ca.key", "ca.crt", "server.key", "server.crt", "sa.key", "sa.pub")
        }
        (pki / "ca.cnf").write_text(
            "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = perfstack-local-ca\n"
            "[v3_ca]\nbasicConstraints = critical, CA:TRUE\n"
            "keyUsage = critical, keyCertSign, cRLSign, digitalSignature\nsubjectKeyIdentifier = hash\n"
        )
        names = [
            "IP:127.0.0.1",
            "IP:10.96.0.1",  # the `kubernetes` Service's cluster IP
            "DNS:localhost",
            "DNS:kubernetes",
            "DNS:kubernetes.default",
            "DNS:kubernetes.default.svc",
            "DNS:kubernetes.default.svc.cluster.local",
        ]
        (pki / "server.ext").write_text(
            "basicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature, keyEncipherment\n"
            "extendedKeyUsage = serverAuth\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n"
            f"subjectAltName = {', '.join(names)}\n"
        )
        # EC keys take milliseconds where RSA takes noticeable time on 2 cores.
        new_key = ("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out")
        ca, ca_key, cnf, days = files["ca.crt"], files["ca.key"], pki / "ca.cnf", ("-days", "7")
        key, csr, crt = files["server.key"], pki / "server.csr", files["server.crt"]
        _openssl(*new_key, ca_key)
        _openssl(
            "req", "-x509", "-new", "-key", ca_key, "-config", cnf, "-extensions", "v3_ca", *days, "-out", ca
        )
        _openssl(*new_key, key)
        _openssl("req", "-new", "-key", key, "-config", cnf, "-subj", "/CN=kube-apiserver", "-out", csr)
        serial = ("-set_serial", str(secrets.randbits(63)))
        signed_by_ca = ("-CA", ca, "-CAkey", ca_key, *serial, *days, "-extfile", pki / "server.ext")
        _openssl("x509", "-req", "-in", csr, *signed_by_ca, "-out", crt)
        _openssl(*new_key, files["sa.key"])
        _openssl("pkey", "-in", files["sa.key"], "-pubout", "-out", files["sa.pub"])
        self.ca_file = files["ca.crt"]
        self._token = secrets.token_hex(24)
        files["tokens.csv"] = pki / "tokens.csv"
        files["tokens.csv"].write_text(f'{self._token},perfstack-admin,perfstack-admin,"system:masters"\n')
        for secret in ("ca.key", "server.key", "sa.key", "tokens.csv"):
            files[secret].chmod(0o600)
        return files

    def _write_kubeconfig(self) -> Path:
        ca_data = base64.b64encode(self.ca_file.read_bytes()).decode()
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "perfstack-local",
                    "cluster": {"server": self.api_server, "certificate-authority-data": ca_data},
                }
            ],
            "users": [{"name": "perfstack-admin", "user": {"token": self._token}}],
            "contexts": [
                {
                    "name": "perfstack-local",
                    "context": {"cluster": "perfstack-local", "user": "perfstack-admin"},
                }
            ],
            "current-context": "perfstack-local",
        }
        path = self.workdir / "kubeconfig"
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)
        return path

    def _start_etcd(self, ports: _Ports) -> None:
        client = f"http://127.0.0.1:{ports.etcd_client}"
        peer = f"http://127.0.0.1:{ports.etcd_peer}"
        self._spawn(
            "etcd",
            [
                str(self.tools.etcd),
                "--name=perfstack",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={client}",
                f"--advertise-client-urls={client}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=perfstack={peer}",
                # The data is thrown away: durability only costs start-up and apply time.
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
        )
        self.wait_until(
            lambda: json.loads(_http_get(f"{client}/health")).get("health") == "true",
            timeout=self.startup_timeout,
            what="etcd /health",
            components=["etcd"],
        )

    def _start_apiserver(self, ports: _Ports, pki: Mapping[str, Path]) -> None:
        self._spawn(
            "kube-apiserver",
            [
                str(self.tools.kube / "kube-apiserver"),
                f"--etcd-servers=http://127.0.0.1:{ports.etcd_client}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={ports.apiserver}",
                f"--cert-dir={self.workdir / 'apiserver'}",
                f"--tls-cert-file={pki['server.crt']}",
                f"--tls-private-key-file={pki['server.key']}",
                f"--token-auth-file={pki['tokens.csv']}",
                "--authorization-mode=Node,RBAC",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={pki['sa.pub']}",
                f"--service-account-signing-key-file={pki['sa.key']}",
                f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
                # No kubelet or kube-proxy answers at the advertised address.
                "--endpoint-reconciler-type=none",
                "--profiling=false",
            ],
        )
        self.wait_until(
            lambda: self.request("/readyz") == (200, "ok"),
            timeout=self.startup_timeout,
            what="kube-apiserver /readyz",
            components=["kube-apiserver", "etcd"],
        )

    def _start_controllers(self, ports: _Ports, pki: Mapping[str, Path]) -> None:
        kubeconfig = f"--kubeconfig={self.kubeconfig}"
        self._spawn(
            "kube-controller-manager",
            [
                str(self.tools.kube / "kube-controller-manager"),
                kubeconfig,
                "--leader-elect=false",
                "--controllers=*",
                # Signs the ServiceAccount tokens and publishes the CA in every
                # namespace (kube-root-ca.crt), so projected token volumes resolve.
                f"--service-account-private-key-file={pki['sa.key']}",
                f"--root-ca-file={self.ca_file}",
                "--bind-address=127.0.0.1",
                "--secure-port=0",
                "--profiling=false",
            ],
        )
        self._spawn(
            "kube-scheduler",
            [
                str(self.tools.kube / "kube-scheduler"),
                kubeconfig,
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                # Served only so start-up can wait for the scheduler's /readyz.
                f"--secure-port={ports.scheduler}",
                f"--cert-dir={self.workdir / 'scheduler'}",
                "--profiling=false",
            ],
        )
        self._spawn(
            "kwok",
            [
                str(self.tools.kwok),
                kubeconfig,
                f"--config={self.tools.kwok_stages}",
                "--manage-all-nodes=false",
                "--manage-nodes-with-annotation-selector=" + "=".join(FAKE_NODE_ANNOTATION),
                "--node-ip=10.0.0.1",
                f"--cidr={POD_CIDR}",
                f"--node-lease-duration-seconds={NODE_LEASE_SECONDS}",
            ],
        )

    def _bootstrap_objects(self) -> list[dict[str, Any]]:
        """The Nodes, the default StorageClass with its PVs, and the Gateway's namespace."""
        objects: list[dict[str, Any]] = []
        for index, name in enumerate(self.node_names):
            resources = {"cpu": "64", "memory": "256Gi", "pods": "250", "ephemeral-storage": "1Ti"}
            objects.append(
                {
                    "apiVersion": "v1",
                    "kind": "Node",
                    "metadata": {
                        "name": name,
                        "annotations": {FAKE_NODE_ANNOTATION[0]: FAKE_NODE_ANNOTATION[1]},
                        "labels": {
                            "kubernetes.io/hostname": name,
                            "kubernetes.io/os": "linux",
                            "kubernetes.io/arch": "amd64",
                            "node.kubernetes.io/instance-type": "kwok",
                            # One zone per node, so zone spreading has somewhere to go.
                            "topology.kubernetes.io/zone": f"zone-{chr(ord('a') + index)}",
                            "type": "kwok",
                        },
                    },
                    # A Node's status is kept on create (kubelets register this way);
                    # kwok's stages keep addresses and allocatable that are already set.
                    "status": {
                        "allocatable": resources,
                        "capacity": resources,
                        "addresses": [
                            {"type": "InternalIP", "address": f"10.0.0.{index + 1}"},
                            {"type": "Hostname", "address": name},
                        ],
                    },
                }
            )
        objects.append(
            {
                "apiVersion": "storage.k8s.io/v1",
                "kind": "StorageClass",
                "metadata": {
                    "name": DEFAULT_STORAGE_CLASS,
                    "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
                },
                "provisioner": "kubernetes.io/no-provisioner",
                # Immediate: claims bind without a pod being scheduled first.
                "volumeBindingMode": "Immediate",
                "reclaimPolicy": "Retain",
                # As a production class allows: the API server refuses to resize a claim otherwise.
                "allowVolumeExpansion": True,
            }
        )
        for index in range(self.pv_count):
            name = f"local-pv-{index:02d}"
            objects.append(
                {
                    "apiVersion": "v1",
                    "kind": "PersistentVolume",
                    "metadata": {"name": name, "labels": {LOCAL_PV_LABEL: "true"}},
                    "spec": {
                        "capacity": {"storage": self.pv_size},
                        "accessModes": ["ReadWriteOnce"],
                        "persistentVolumeReclaimPolicy": "Retain",
                        "storageClassName": DEFAULT_STORAGE_CLASS,
                        # Never mounted: no kubelet runs here.
                        "hostPath": {"path": f"/tmp/perfstack-local-pv/{name}", "type": "DirectoryOrCreate"},
                    },
                }
            )
        objects.append(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.gateway.namespace}}
        )
        return objects

    def crd_names(self) -> list[str]:
        """Names of the Gateway API CRDs the cluster installs."""
        names = []
        for path in sorted(self.tools.gateway_api_crds.glob("*.yaml")):
            for document in yaml.safe_load_all(path.read_text()):
                if document and document.get("kind") == "CustomResourceDefinition":
                    names.append(document["metadata"]["name"])
        return names

    def _wait_crds_established(self) -> None:
        pending = set(self.crd_names())

        def established() -> bool:
            # One CRD at a time, and only those still pending: the Gateway API
            # schemas make a full list ~1 MB, too much to poll ten times a second.
            for name in sorted(pending):
                crd = self.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
                if has_condition(crd, "Established"):
                    pending.discard(name)
            return not pending

        self.wait_until(
            established,
            timeout=self.startup_timeout,
            what="the Gateway API CRDs to be Established",
            components=["kube-apiserver"],
            interval=0.2,
        )

    def _apply_gateway(self) -> None:
        objects = [
            {
                "apiVersion": "gateway.networking.k8s.io/v1",
                "kind": "GatewayClass",
                "metadata": {"name": GATEWAY_CLASS},
                "spec": {"controllerName": GATEWAY_CONTROLLER},
            },
            {
                "apiVersion": "gateway.networking.k8s.io/v1",
                "kind": "Gateway",
                "metadata": {"name": self.gateway.name, "namespace": self.gateway.namespace},
                "spec": {
                    "gatewayClassName": GATEWAY_CLASS,
                    "listeners": [
                        {
                            "name": "http",
                            "protocol": "HTTP",
                            "port": 80,
                            "allowedRoutes": {"namespaces": {"from": "All"}},
                        }
                    ],
                },
            },
        ]
        # An Established CRD can take a moment to appear in discovery, where
        # kubectl looks the kind up; a failed apply is retried until then.
        self.wait_until(
            lambda: self.apply(objects, check=False).returncode == 0 or None,
            timeout=self.startup_timeout,
            what="the GatewayClass and Gateway to apply",
            components=["kube-apiserver"],
            interval=0.5,
        )

    def _wait_ready(self, ports: _Ports) -> None:
        def nodes_ready() -> bool:
            nodes = self.get("/api/v1/nodes")["items"]
            managed = [n for n in nodes if n["metadata"]["name"] in self.node_names]
            # The not-ready taint goes once the node lifecycle controller saw Ready.
            return len(managed) == self.node_count and all(
                has_condition(n, "Ready") and not n["spec"].get("taints") for n in managed
            )

        def volumes_available() -> bool:
            pvs = self.get("/api/v1/persistentvolumes", labelSelector=f"{LOCAL_PV_LABEL}=true")["items"]
            return len(pvs) == self.pv_count and all(
                pv.get("status", {}).get("phase") == "Available" for pv in pvs
            )

        self.wait_until(
            nodes_ready,
            timeout=self.startup_timeout,
            what="the fake Nodes to be Ready and untainted",
            components=["kwok", "kube-controller-manager"],
        )
        self.wait_until(
            volumes_available,
            timeout=self.startup_timeout,
            what="every PersistentVolume to be Available",
            components=["kube-controller-manager"],
        )
        # Pods are refused until their namespace has its default ServiceAccount.
        self.wait_until(
            lambda: self.get("/api/v1/namespaces/default/serviceaccounts/default"),
            timeout=self.startup_timeout,
            what="the default ServiceAccount",
            components=["kube-controller-manager"],
        )
        scheduler = ssl.create_default_context()
        # The scheduler serves a self-signed certificate of its own making.
        scheduler.check_hostname = False
        scheduler.verify_mode = ssl.CERT_NONE
        self.wait_until(
            lambda: _http_get(f"https://127.0.0.1:{ports.scheduler}/readyz", scheduler) == "ok",
            timeout=self.startup_timeout,
            what="kube-scheduler /readyz",
            components=["kube-scheduler"],
        )

    # -- processes -----------------------------------------------------------

    def _spawn(self, name: str, args: list[str]) -> None:
        log = self.workdir / "logs" / f"{name}.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                # Own session: a Ctrl-C in the terminal reaches pytest, whose
                # teardown stops the cluster, not the servers mid-test.
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        self._components.append(_Component(name, process, log))

    def _check_alive(self) -> None:
        for component in self._components:
            code = component.process.poll()
            if code is not None:
                raise ClusterError(
                    f"{component.name} exited with code {code}" + self._log_tails([component.name])
                )

    def _log_tails(self, names: Sequence[str] = ()) -> str:
        chosen = [c for c in self._components if not names or c.name in names]
        return "".join(f"\n--- {c.name} ({c.log.name}), last lines:\n{c.tail()}" for c in chosen)


def has_condition(obj: Mapping[str, Any], kind: str) -> bool:
    """Whether ``obj`` has status condition ``kind`` with status True."""
    return any(
        c.get("type") == kind and c.get("status") == "True"
        for c in obj.get("status", {}).get("conditions", [])
    )


def _openssl(*args: str | Path) -> None:
    result = subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ClusterError(f"openssl {args[0]} failed:\n{result.stderr}")


def _http_get(url: str, context: ssl.SSLContext | None = None) -> str:
    with urllib.request.urlopen(url, context=context, timeout=5) as response:
        return response.read().decode()


def _free_ports(count: int) -> list[int]:
    """``count`` distinct ports free on 127.0.0.1 right now (held together, so no duplicates)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


def _die_with_parent() -> None:
    """In the child: get SIGKILL when the test process dies, so a killed pytest leaves no servers behind."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
