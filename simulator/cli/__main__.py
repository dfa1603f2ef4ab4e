"""``python -m mailpolicy.simulator.cli``: the ``mailpolicy`` script."""

import sys

from mailpolicy.simulator.cli import main

sys.exit(main())
