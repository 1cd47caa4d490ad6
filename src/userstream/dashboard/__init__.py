"""The live dashboard: the project's own web page on 127.0.0.1.

``data`` assembles what the page shows from what the pipeline already reports, ``probes``
gathers it in a background thread, ``portraits`` serves the newest users' pictures (or their
initials), ``server`` is the Starlette app and its uvicorn server, ``static/`` the page.
"""
