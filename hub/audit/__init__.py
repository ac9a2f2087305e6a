"""The tamper-evident audit logs: one per agreement, and one hub-wide log.

Operations call `record()` inside their transaction, before committing, so an
entry commits with the change it records or not at all.
"""

from hub.audit.log import record

__all__ = ["record"]
