"""The web console (issue 13): server-rendered pages (Jinja2 + htmx) inside the API service.

Same process, same authorisation (roles and organisation units of ``socmon.api.auth``), same
audit. Users and sessions live in Elasticsearch; see docs/console.md for the structure and
how to add a page.
"""
