"""Who is doing an operation: every operation takes an Actor, never a request."""

from __future__ import annotations

from dataclasses import dataclass

from hub.models import User


@dataclass(frozen=True)
class Actor:
    user_id: int | None
    username: str
    organisation_id: int | None
    organisation_code: str
    role: str

    @classmethod
    def for_user(cls, user: User) -> Actor:
        return cls(
            user_id=user.id,
            username=user.username,
            organisation_id=user.organisation_id,
            organisation_code=user.organisation.code,
            role=user.role,
        )

    @property
    def is_officer(self) -> bool:
        return self.role == "officer"

    @property
    def is_supervisor(self) -> bool:
        return self.role == "supervisor"

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


#: The hub itself (init, migrations, scheduled checkpoints): audited as "system".
SYSTEM = Actor(
    user_id=None, username="system", organisation_id=None, organisation_code="HUB", role="system"
)
