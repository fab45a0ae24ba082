"""`python -m hf_mtl ...` is the `hf-mtl` command."""

import sys

from .cli import main

sys.exit(main())
