"""Admin: who may see what, and what only admins see. Users, roles and sessions (`auth`), what
k holds back of a range (`held_back`: the counts k hides from viewers), and the refusals and
dead letters by device and reason (`refusals`).

Stands on storage/ and reading/; the web pages and the `edgeemo hub user|store|dead-letters`
commands (admin_cli.py, at the top) are its callers.
"""
