"""``python -m videoagent.cli``: the same as the ``videoagent`` command."""

import sys

from . import main

sys.exit(main())
