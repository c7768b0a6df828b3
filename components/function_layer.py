"""The functions' third-party packages as one Lambda layer version, published from the archive `make package` built."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

TYPE = "session-uploads:index:FunctionLayer"


@dataclass
class FunctionLayerArgs:
    layer_name: str
    """The layer's name in the account and region; each publish adds a version under it."""
    archive_path: str
    """The zip to publish (layer.require_built(): built from layer/requirements.txt, checked fresh)."""
    code_hash: str
    """Base64 SHA-256 of that zip: a new archive publishes a new version, and every function moves to it."""
    runtime: str
    """The one runtime the archive's wheels are built for."""
    architecture: str
    """The one architecture its compiled extensions are built for."""
    description: str | None = None
    """Shown in the console."""


class FunctionLayer(pulumi.ComponentResource):
    version: aws.lambda_.LayerVersion
    arn: pulumi.Output[str]

    def __init__(self, name: str, args: FunctionLayerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE, name, None, opts)
        self.version = aws.lambda_.LayerVersion(
            f"{name}-version",
            aws.lambda_.LayerVersionArgs(
                layer_name=args.layer_name,
                code=pulumi.FileArchive(args.archive_path),
                source_code_hash=args.code_hash,
                compatible_runtimes=[args.runtime],
                compatible_architectures=[args.architecture],
                description=args.description,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.arn = self.version.arn  # the version-qualified ARN a function's `layers` takes
        self.register_outputs({"arn": self.arn})
