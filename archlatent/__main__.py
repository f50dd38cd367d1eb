"""``python -m archlatent``: the same as the ``archlatent`` command."""

import sys

from archlatent.cli import main

sys.exit(main())
