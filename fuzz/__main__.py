"""``python -m unmapfuzz``: the command line."""
import sys

from unmapfuzz.cli.main import main

sys.exit(main())
