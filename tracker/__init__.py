"""tracker: watch developing news stories and report exactly what changed.

The domain lives here: fetch, extract, normalise, diff, the check use case, reports and the CLI.
It knows nothing of Celery; ``workers`` wraps the same use cases in tasks.
"""

__version__ = "0.1.0"

import sys

# `import httpx` also imports httpx's own command-line client (click, rich and pygments: about
# a fifth of a `tracker check` start) whenever those are installed, as they are here for
# typer. tracker never runs that client, so its module is marked absent: httpx then skips it
# (its `httpx.main` becomes a stub saying the CLI is not installed). A process that imports
# tracker cannot run `httpx.main()`; the `httpx` command, a process of its own, still can.
if "httpx._main" not in sys.modules:
    sys.modules["httpx._main"] = None  # type: ignore[assignment]  # None: "not installed"
