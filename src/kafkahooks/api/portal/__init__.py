"""The endpoint portal (``/portal``): server-rendered pages over the API's own writes.

Modules: ``sessions`` (single-use links and session cookies, records in the store),
``activity`` (what the pages need of the attempts read model, test sends and
recovers: small interfaces), ``pages`` (the routes, the CSP, CSRF, the templates).
Templates and the one stylesheet and script are package data (no build step).
"""

__all__: list[str] = []
