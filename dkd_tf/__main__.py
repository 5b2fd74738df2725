import sys

from .errors import run_cli
from .train import main

sys.exit(run_cli(main))
