"""A load generator: the demo app's `perfstack_demo.loadgen` sending steady traffic through the router."""

from dataclasses import dataclass

import pulumi

from components.app.settings import LoadGeneratorConfig
from components.platform.base import Platform
from components.platform.settings import Resources
from components.platform.spec import ImageBuild, Workload

LOADGEN_UID = 65534  # the demo image's user

RESOURCES = Resources(cpu_request="20m", cpu_limit="250m", memory_request="64Mi", memory_limit="128Mi")


@dataclass
class LoadGeneratorArgs:
    """What to run, where to send the traffic, and where to run."""

    settings: LoadGeneratorConfig
    image: str
    """The image (demo app) that holds `perfstack_demo.loadgen`."""
    build: ImageBuild | None
    """How that image is built, when it is built locally."""
    target: str
    """Base URL of the router, e.g. http://router:8080."""
    platform: Platform


class LoadGenerator(pulumi.ComponentResource):
    """One container that keeps `requestsPerSecond` requests of `users` users flowing through the router."""

    def __init__(
        self, name: str, args: LoadGeneratorArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("perfstack:app:LoadGenerator", name, None, opts)
        settings = args.settings
        args.platform.deploy(
            Workload(
                name=name,
                app="loadgen",
                component="load",
                image=args.image,
                build=args.build,
                command=(
                    *("python", "-m", "perfstack_demo.loadgen", "--target", args.target),
                    *("--rps", format(settings.requests_per_second, "g"), "--users", str(settings.users)),
                ),
                resources=RESOURCES,
                run_as_user=LOADGEN_UID,
                writable_dirs=("/tmp",),
            ),
            parent=self,
        )
        self.register_outputs({})
