"""The endpoint portal (``/portal``): server-rendered pages over the API's own writes.

Modules: ``pages`` (the routes, the CSP, CSRF, the templates) and ``activity`` (what
the pages need of the attempts read model, test sends and recovers: small
interfaces).  The sign-in records are ``api/portalsessions.py`` (the store's tables
import it, so it sits outside this package).  Templates, the one stylesheet and the
one script are package data: no build step.
"""

__all__: list[str] = []
