"""The web view, HTTP API and Atom feeds of ``tracker serve`` (and ``tracker run --serve``).

``app`` (the ASGI application and its security headers), ``pages`` (HTML), ``api`` (JSON under
``/api/v1``), ``atom`` (feeds and the HTML report), ``readmodel`` (what they show, read through
``db.web_queries`` and ``tracker.diffstore``), ``templating`` (Jinja2, autoescaped) and
``server`` (uvicorn). Read-only: nothing here writes to the database. Nothing here is imported
by the checker or the workers.
"""
