"""Entry point of `python -m ops` (and of the `session-uploads-ops` script `make ops` writes)."""

import sys

from ops.cli import main

sys.exit(main())
