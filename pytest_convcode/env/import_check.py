"""Run by the environment's own interpreter (which need not have this package): import each
module named on the command line and write one JSON line per module, ``[name, error or null]``.

What the imports print goes to stderr, so that the lines on stdout are only this script's.
"""

import json
import os
import sys

report = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)
for name in sys.argv[1:]:
    try:
        __import__(name)
        error = None
    except BaseException as exc:  # an import can fail in any way, SystemExit included
        error = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
    report.write(json.dumps([name, error]) + "\n")
    report.flush()
