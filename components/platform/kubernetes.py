"""Runs workloads as Kubernetes objects (the production platform).

Config files live in an auto-named ConfigMap and secret files in an
auto-named Secret: a content change gives the object a new name, which
changes the pod template and rolls the pods — the idiomatic restart on
config change. Workloads with persistent volumes become StatefulSets with a
PVC per replica, all others Deployments. Every pod runs under the Pod
Security ``restricted`` profile.

A volume's size is set once in the StatefulSet's claim template, which
Kubernetes cannot change (the provider would replace the StatefulSet: delete
it, stopping every replica, then create it, and the existing claims would keep
their size anyway). So the template's size is ignored after creation, and a
`PersistentVolumeClaimPatch` per replica sets the size of each claim the
StatefulSet made: a larger size expands the claims in place where their
StorageClass allows expansion, and the StatefulSet is not touched. What holds
data (the namespace, which takes the claims with it, and every StatefulSet
with volumes) is protected: the engine refuses to delete or replace it unless
``protect_data`` is off.

Every workload gets a ClusterIP Service named after it: what clients use, and
it only sends to ready pods. A StatefulSet also gets a headless governing
Service, ``<name>-headless``, that publishes its pods before they are ready:
the per-pod names ``<name>-<ordinal>.<name>-headless`` that peers (Sentinels,
Alertmanagers) use to find each other while they start.
"""

from collections.abc import Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.platform.base import Platform
from components.platform.registry import RegistryLogin
from components.platform.spec import Deployed, HealthCheck, Workload, file_keys

meta = k8s.meta.v1
core = k8s.core.v1
apps = k8s.apps.v1

TRACK_LABEL = "perfstack.dev/track"
HEADLESS_SUFFIX = "-headless"
"""Appended to a StatefulSet's name to name its headless governing Service."""
CLAIM_SIZE_PATH = "spec.volumeClaimTemplates[*].spec.resources.requests.storage"
"""The StatefulSet input that would replace it on a size change: ignored, the claim patches resize."""
PATCH_FORCE = "pulumi.com/patchForce"
"""Lets a claim patch take the size over from the StatefulSet controller that created the claim."""
SHUTDOWN_SECONDS = 30
"""What a process gets between SIGTERM and SIGKILL after its drain (Kubernetes' default grace)."""


class KubernetesPlatformArgs:
    """Which cluster and namespace the stack goes to."""

    def __init__(
        self,
        *,
        namespace: str,
        context: str | None = None,
        storage_class: str | None = None,
        render_yaml_to_directory: str | None = None,
        protect_data: bool = True,
        registry: RegistryLogin | None = None,
    ) -> None:
        self.namespace = namespace
        self.context = context
        self.storage_class = storage_class
        self.render_yaml_to_directory = render_yaml_to_directory
        self.protect_data = protect_data
        self.registry = registry
        """A private registry's login: every pod pulls with it."""


class KubernetesPlatform(Platform):
    """A Kubernetes provider, the stack's namespace, and each workload's objects."""

    def __init__(
        self, name: str, args: KubernetesPlatformArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("perfstack:platform:Kubernetes", name, None, opts)
        self._args = args
        self.provider = k8s.Provider(
            "kubernetes",
            context=args.context,
            render_yaml_to_directory=args.render_yaml_to_directory,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.namespace = core.Namespace(
            "namespace",
            metadata=meta.ObjectMetaArgs(
                name=args.namespace,
                labels={
                    "app.kubernetes.io/part-of": "perfstack",
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/enforce-version": "latest",
                    "pod-security.kubernetes.io/warn": "restricted",
                    "pod-security.kubernetes.io/audit": "restricted",
                },
            ),
            # Deleting the namespace deletes the claims in it.
            opts=self.child_opts(self, protect=args.protect_data),
        )
        self.pull_secret = self._pull_secret(args.registry) if args.registry else None
        self.register_outputs({"namespace": self.namespace.metadata.name})

    def _pull_secret(self, registry: RegistryLogin) -> core.Secret:
        """The registry login as a `kubernetes.io/dockerconfigjson` Secret in the namespace."""
        return core.Secret(
            "registry-credentials",
            # Auto-named: a new password gives it a new name, so every pod template changes with it.
            metadata=meta.ObjectMetaArgs(
                namespace=self.namespace.metadata.name, labels={"app.kubernetes.io/part-of": "perfstack"}
            ),
            type="kubernetes.io/dockerconfigjson",
            string_data={".dockerconfigjson": registry.docker_config_json()},
            opts=self.child_opts(self),
        )

    @property
    def namespace_name(self) -> str:
        return self._args.namespace

    def child_opts(self, parent: pulumi.Resource, **kwargs: object) -> pulumi.ResourceOptions:
        """Options for an object of this platform: its provider, parented to a component."""
        return pulumi.ResourceOptions(parent=parent, provider=self.provider, **kwargs)

    def address(self, name: str) -> str:
        return name

    def instance_hosts(self, name: str, replicas: int) -> list[str]:
        # StatefulSet pods behind their headless Service: <name>-<ordinal>.<name>-headless.
        return [self.replica_host(name, f"{name}-{index}") for index in range(replicas)]

    def replica_host(self, name: str, replica_name: str) -> str:
        # The governing Service publishes not-ready pods, so peers resolve while they start.
        return f"{replica_name}.{name}{HEADLESS_SUFFIX}"

    def labels(self, workload: Workload) -> dict[str, str]:
        """The labels every object of ``workload`` carries."""
        return {**workload.standard_labels, "app.kubernetes.io/managed-by": "pulumi"}

    @staticmethod
    def selector(workload: Workload) -> dict[str, str]:
        """The labels that select ``workload``'s pods and nothing else."""
        return {"app.kubernetes.io/name": workload.app, "app.kubernetes.io/instance": workload.name}

    def _metadata(self, workload: Workload, name: str | None = None) -> meta.ObjectMetaArgs:
        return meta.ObjectMetaArgs(
            name=name, namespace=self.namespace.metadata.name, labels=self.labels(workload)
        )

    def deploy(
        self, workload: Workload, parent: pulumi.Resource, after: Sequence[pulumi.Resource] = ()
    ) -> Deployed:
        if workload.live_file is not None:
            raise ValueError(f"{workload.name}: live files are a Docker platform feature (use files here)")
        created: list[pulumi.Resource] = []
        volumes: list[core.VolumeArgs] = []
        mounts: list[core.VolumeMountArgs] = []
        config_keys = file_keys(f.path for f in workload.files)
        secret_keys = file_keys(f.path for f in workload.secret_files)
        if workload.files:
            config_map = core.ConfigMap(
                f"{workload.name}-config",
                metadata=self._metadata(workload),
                data={config_keys[f.path]: f.content for f in workload.files},
                opts=self.child_opts(parent),
            )
            created.append(config_map)
            volumes.append(
                core.VolumeArgs(
                    name="config",
                    config_map=core.ConfigMapVolumeSourceArgs(name=config_map.metadata.name),
                )
            )
            mounts += _file_mounts("config", config_keys)
        if workload.secret_files:
            secret = core.Secret(
                f"{workload.name}-secrets",
                metadata=self._metadata(workload),
                type="Opaque",
                string_data={secret_keys[f.path]: f.content for f in workload.secret_files},
                opts=self.child_opts(parent),
            )
            created.append(secret)
            volumes.append(
                core.VolumeArgs(
                    name="secrets",
                    secret=core.SecretVolumeSourceArgs(secret_name=secret.metadata.name, default_mode=0o440),
                )
            )
            mounts += _file_mounts("secrets", secret_keys)
        for index, directory in enumerate(workload.writable_dirs):
            volumes.append(
                core.VolumeArgs(name=f"scratch-{index}", empty_dir=core.EmptyDirVolumeSourceArgs())
            )
            mounts.append(core.VolumeMountArgs(name=f"scratch-{index}", mount_path=directory))
        mounts += [core.VolumeMountArgs(name=v.name, mount_path=v.mount_path) for v in workload.volumes]

        stateful = bool(workload.volumes) or workload.stable_identity
        service_account = self._service_account(workload, parent) if workload.discovers_pods else None
        template = core.PodTemplateSpecArgs(
            metadata=meta.ObjectMetaArgs(
                labels=self.labels(workload), annotations=_pod_annotations(workload)
            ),
            spec=core.PodSpecArgs(
                service_account_name=service_account,
                image_pull_secrets=[core.LocalObjectReferenceArgs(name=self.pull_secret.metadata.name)]
                if self.pull_secret
                else None,
                # Only workloads that call the API get a token mounted.
                automount_service_account_token=service_account is not None,
                security_context=core.PodSecurityContextArgs(
                    run_as_non_root=True,
                    run_as_user=workload.run_as_user,
                    run_as_group=workload.run_as_user,
                    fs_group=workload.run_as_user,
                    seccomp_profile=core.SeccompProfileArgs(type="RuntimeDefault"),
                ),
                containers=[self._container(workload, mounts)],
                # The drain comes out of the grace period: keep the usual time after SIGTERM on top.
                termination_grace_period_seconds=workload.drain_seconds + SHUTDOWN_SECONDS
                if workload.drain_seconds
                else None,
                affinity=_spread(self.selector(workload)) if workload.replicas > 1 else None,
                volumes=volumes or None,
            ),
        )
        ports = [core.ServicePortArgs(name=p.name, port=p.port, target_port=p.name) for p in workload.ports]
        # What clients use (Grafana -> prometheus:9090): only ready pods get traffic.
        created.append(
            core.Service(
                workload.name,
                metadata=self._metadata(workload, workload.name),
                spec=core.ServiceSpecArgs(type="ClusterIP", selector=self.selector(workload), ports=ports),
                opts=self.child_opts(parent),
            )
        )
        headless = f"{workload.name}{HEADLESS_SUFFIX}"
        if stateful:
            created.append(
                core.Service(
                    headless,
                    metadata=self._metadata(workload, headless),
                    spec=core.ServiceSpecArgs(
                        type="ClusterIP",
                        cluster_ip="None",
                        # Peers (Sentinels, Alertmanagers) must resolve each other while starting.
                        publish_not_ready_addresses=True,
                        selector=self.selector(workload),
                        ports=ports,
                    ),
                    opts=self.child_opts(parent),
                )
            )
        selector = meta.LabelSelectorArgs(match_labels=self.selector(workload))
        if stateful:
            statefulset = apps.StatefulSet(
                workload.name,
                metadata=self._metadata(workload, workload.name),
                spec=apps.StatefulSetSpecArgs(
                    replicas=workload.replicas,
                    service_name=headless,
                    pod_management_policy="Parallel" if workload.parallel_start else None,
                    selector=selector,
                    template=template,
                    volume_claim_templates=[
                        core.PersistentVolumeClaimArgs(
                            metadata=meta.ObjectMetaArgs(name=v.name, labels=self.labels(workload)),
                            spec=core.PersistentVolumeClaimSpecArgs(
                                access_modes=["ReadWriteOnce"],
                                storage_class_name=self._args.storage_class,
                                resources=core.VolumeResourceRequirementsArgs(requests={"storage": v.size}),
                            ),
                        )
                        for v in workload.volumes
                    ]
                    or None,
                ),
                opts=self.child_opts(
                    parent,
                    protect=self._args.protect_data and bool(workload.volumes),
                    ignore_changes=[CLAIM_SIZE_PATH] if workload.volumes else None,
                    depends_on=list(after),
                ),
            )
            created += [statefulset, *self._resize_claims(workload, statefulset, parent)]
        else:
            created.append(
                apps.Deployment(
                    workload.name,
                    metadata=self._metadata(workload, workload.name),
                    spec=apps.DeploymentSpecArgs(
                        replicas=workload.replicas,
                        selector=selector,
                        # Surge first and never take a ready pod away: capacity
                        # stays at the desired count throughout a rollout.
                        strategy=apps.DeploymentStrategyArgs(
                            type="RollingUpdate",
                            rolling_update=apps.RollingUpdateDeploymentArgs(max_surge=1, max_unavailable=0),
                        ),
                        template=template,
                    ),
                    opts=self.child_opts(parent, depends_on=list(after)),
                )
            )
        if workload.replicas > 1:
            created.append(
                k8s.policy.v1.PodDisruptionBudget(
                    workload.name,
                    metadata=self._metadata(workload, workload.name),
                    spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(max_unavailable=1, selector=selector),
                    opts=self.child_opts(parent),
                )
            )
        return Deployed(host=self.address(workload.name), resources=tuple(created))

    def _resize_claims(
        self, workload: Workload, statefulset: apps.StatefulSet, parent: pulumi.Resource
    ) -> list[pulumi.Resource]:
        """A patch of each claim of ``statefulset`` to its volume's size, which expands it in place.

        The StatefulSet controller names the claims `<volume>-<statefulset>-<ordinal>` and makes them
        from the template, at the size the StatefulSet was created with; a replica added later gets
        that size first and the configured one once its patch is applied (after the rollout, which
        the patch waits for: it needs the claim to exist). Kubernetes refuses a smaller size.
        Rendered manifests (``render_yaml_to_directory``) get no patches: they are whole objects to
        apply to an empty namespace, where the template's size is the one configured.
        """
        if self._args.render_yaml_to_directory:
            return []
        patches: list[pulumi.Resource] = []
        for volume in workload.volumes:
            for ordinal in range(workload.replicas):
                claim = f"{volume.name}-{workload.name}-{ordinal}"
                patches.append(
                    core.PersistentVolumeClaimPatch(
                        claim,
                        metadata=meta.ObjectMetaPatchArgs(
                            name=claim,
                            namespace=self.namespace.metadata.name,
                            annotations={PATCH_FORCE: "true"},
                        ),
                        spec=core.PersistentVolumeClaimSpecPatchArgs(
                            resources=core.VolumeResourceRequirementsPatchArgs(
                                requests={"storage": volume.size}
                            )
                        ),
                        # Deleting a patch would give up the size field, which a claim cannot be
                        # without: a replica removed keeps its claim, at the size it has.
                        opts=self.child_opts(parent, depends_on=[statefulset], retain_on_delete=True),
                    )
                )
        return patches

    def _service_account(self, workload: Workload, parent: pulumi.Resource) -> str:
        """A ServiceAccount that may read the pods of this namespace and nothing else."""
        name = workload.name
        core.ServiceAccount(
            name,
            metadata=self._metadata(workload, name),
            automount_service_account_token=False,
            opts=self.child_opts(parent),
        )
        rbac = k8s.rbac.v1
        rbac.Role(
            f"{name}-pod-reader",
            metadata=self._metadata(workload, f"{name}-pod-reader"),
            rules=[rbac.PolicyRuleArgs(api_groups=[""], resources=["pods"], verbs=["get", "list", "watch"])],
            opts=self.child_opts(parent),
        )
        rbac.RoleBinding(
            f"{name}-pod-reader",
            metadata=self._metadata(workload, f"{name}-pod-reader"),
            role_ref=rbac.RoleRefArgs(
                api_group="rbac.authorization.k8s.io", kind="Role", name=f"{name}-pod-reader"
            ),
            subjects=[rbac.SubjectArgs(kind="ServiceAccount", name=name, namespace=self.namespace_name)],
            opts=self.child_opts(parent),
        )
        return name

    def _container(self, workload: Workload, mounts: list[core.VolumeMountArgs]) -> core.ContainerArgs:
        resources = workload.resources
        return core.ContainerArgs(
            name=workload.app,
            image=workload.image,
            command=list(workload.command) or None,
            args=list(workload.args) or None,
            env=_env(workload) or None,
            ports=[core.ContainerPortArgs(name=p.name, container_port=p.port) for p in workload.ports]
            or None,
            volume_mounts=mounts or None,
            resources=core.ResourceRequirementsArgs(
                requests={"cpu": resources.cpu_request, "memory": resources.memory_request},
                limits={"cpu": resources.cpu_limit, "memory": resources.memory_limit},
            ),
            readiness_probe=_probe(workload.health),
            liveness_probe=_probe(workload.liveness)
            if workload.liveness
            else _probe(workload.health, liveness=True),
            startup_probe=_probe(workload.startup),
            # Sleep before SIGTERM: endpoints and proxies drop the pod while it still serves.
            lifecycle=core.LifecycleArgs(
                pre_stop=core.LifecycleHandlerArgs(sleep=core.SleepActionArgs(seconds=workload.drain_seconds))
            )
            if workload.drain_seconds
            else None,
            security_context=core.SecurityContextArgs(
                run_as_non_root=True,
                allow_privilege_escalation=False,
                read_only_root_filesystem=workload.read_only_root,
                capabilities=core.CapabilitiesArgs(drop=["ALL"]),
                seccomp_profile=core.SeccompProfileArgs(type="RuntimeDefault"),
            ),
        )


def _file_mounts(volume: str, keys: dict[str, str]) -> list[core.VolumeMountArgs]:
    # subPath mounts put each file exactly where the program expects it
    # without hiding the rest of its directory; they do not see updates, but
    # a content change renames the ConfigMap/Secret and so rolls the pods.
    return [
        core.VolumeMountArgs(name=volume, mount_path=path, sub_path=key, read_only=True)
        for path, key in keys.items()
    ]


def _env(workload: Workload) -> list[core.EnvVarArgs]:
    # The pod's own name comes first: later values may refer to it as $(NAME).
    own_name = (
        [
            core.EnvVarArgs(
                name=workload.pod_name_env,
                value_from=core.EnvVarSourceArgs(
                    field_ref=core.ObjectFieldSelectorArgs(field_path="metadata.name")
                ),
            )
        ]
        if workload.pod_name_env
        else []
    )
    return own_name + [core.EnvVarArgs(name=k, value=v) for k, v in sorted(workload.env.items())]


def _spread(selector: dict[str, str]) -> core.AffinityArgs:
    # Preferred, not required: replicas spread over nodes where the cluster
    # has enough of them, and still schedule on a small one.
    return core.AffinityArgs(
        pod_anti_affinity=core.PodAntiAffinityArgs(
            preferred_during_scheduling_ignored_during_execution=[
                core.WeightedPodAffinityTermArgs(
                    weight=100,
                    pod_affinity_term=core.PodAffinityTermArgs(
                        topology_key="kubernetes.io/hostname",
                        label_selector=meta.LabelSelectorArgs(match_labels=selector),
                    ),
                )
            ]
        )
    )


def _pod_annotations(workload: Workload) -> dict[str, str] | None:
    if workload.metrics is None:
        return None
    return {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(workload.metrics.port),
        "prometheus.io/path": workload.metrics.path,
    }


def _probe(health: HealthCheck | None, liveness: bool = False) -> core.ProbeArgs | None:
    """The probe of ``health``; ``liveness`` derives a more patient liveness probe from a readiness check."""
    if health is None:
        return None
    if health.http_path:
        action = {"http_get": core.HTTPGetActionArgs(path=health.http_path, port=health.port)}
    else:
        action = {"exec_": core.ExecActionArgs(command=list(health.command))}
    return core.ProbeArgs(
        **action,
        # Liveness waits longer and tolerates more failures than readiness,
        # so a slow start takes a pod out of rotation instead of killing it.
        # 0 is the API's default, which the provider leaves out of what it applies: left out
        # here too, so that the mock render shows what reaches the cluster.
        initial_delay_seconds=health.initial_delay_seconds * (3 if liveness else 1) or None,
        period_seconds=health.period_seconds,
        timeout_seconds=health.timeout_seconds,
        failure_threshold=health.failure_threshold * (2 if liveness else 1),
    )
