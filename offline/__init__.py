"""Run the Pulumi program offline, under pulumi.runtime mocks, with no CLI and no cloud."""
