"""`python -m hf_mtl ...` is the `hf-mtl` command."""

import sys

from .workflow.cli import main

sys.exit(main())
