"""`python -m bot.processes MODULE [ARGUMENT…]`: `python -m MODULE ARGUMENT…` without other packages' deprecation notices.

How the bot's processes are started unless `--verbose` (`bot.processes.quiet`).
"""

import sys

from bot.processes.quiet import run_module

run_module(sys.argv[1:])
