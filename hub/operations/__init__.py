"""The domain operations: the only code that writes to the database.

Each operation validates its input, checks the actor may do it, changes the
records, seals what must be sealed, appends the audit entry and commits, in
that order and in one place, whichever face (pages, API, CLI) called it.
"""
