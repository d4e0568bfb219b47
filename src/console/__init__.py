"""The web console: server-rendered pages (Jinja2, plain HTML forms, no script) for the people
who use the back office, served by the HTTP API's app under ``/console``.

It calls the same application-layer functions as the API's routes, verifies identities with the
API's token verifier and asks the one permission table (``domain.authority``) for every page.
"""
