"""`python -m stylehub.cli` (and `torchrun -m stylehub.cli`): the `stylehub` command."""
import sys

from . import main

sys.exit(main())
