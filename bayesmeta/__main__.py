"""`python -m bayesmeta`: the `bayesmeta` console script (:mod:`bayesmeta.console`)."""

import sys

from bayesmeta.console import main

sys.exit(main())
