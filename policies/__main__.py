"""The CrossGuard policy pack: building PolicyPack starts the analyzer server and blocks, so nothing imports this."""

import sys
from pathlib import Path

from pulumi_policy import PolicyPack

# The CLI runs this file from policies/; the policy modules import each other as the `policies` package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from policies.pack import PACK_NAME, POLICIES  # noqa: E402

PolicyPack(name=PACK_NAME, policies=POLICIES)
