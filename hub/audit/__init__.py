"""The tamper-evident audit logs: one per agreement, and one hub-wide log.

Operations call `record()` inside their transaction, before committing, so an
entry commits with the change it records or not at all. Modules:

- entry.py        canonical bytes of an entry (schemas/audit-entry.md)
- merkle.py       RFC 9162 tree hashing and proofs (pure)
- note.py         C2SP signed notes and checkpoints (pure)
- store.py        the tree in the database: stored complete-subtree hashes
- log.py          appending, with the log head locked
- checkpoints.py  signing checkpoints with the hub's key, when due
- verify.py       recomputing every tree from its entries and naming what broke (the reference)
- verify_fast.py  the same verdict, faster (chunks, joined reads, a forked half): `hub audit verify`
"""

from hub.audit.log import ensure_log, record

__all__ = ["ensure_log", "record"]
