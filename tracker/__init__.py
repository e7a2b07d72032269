"""tracker: watch developing news stories and report exactly what changed.

The domain lives here: fetch, extract, normalise, diff, the check use case, reports and the CLI.
It knows nothing of Celery; ``workers`` wraps the same use cases in tasks.
"""

__version__ = "0.1.0"
