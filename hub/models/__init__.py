"""SQLAlchemy models, one module per aggregate; importing this registers them all."""

from hub.models.agreement import Agreement, Obligation, agreement_parties
from hub.models.audit import AuditEntry, AuditLog, AuditNode, Checkpoint
from hub.models.case import Case, Seizure, Suspect, case_agreements, case_organisations
from hub.models.exchange import Attachment, Exchange, ExchangeTranslation
from hub.models.organisation import Organisation, OrganisationName, Place
from hub.models.peer import OutboxItem, Peer, PeerKey, PeerNonce, PeerOrganisation
from hub.models.sealed import (
    ExportedPackage,
    ImportedPackage,
    PackageReceipt,
    PayloadWrap,
    SealedPayload,
)
from hub.models.user import ApiToken, LoginThrottle, Setting, User, UserSession
from hub.models.witness import (
    Cosignature,
    PeerCheckpointKey,
    WitnessedCheckpoint,
    WitnessRefusal,
)

__all__ = [
    "Agreement",
    "ApiToken",
    "Attachment",
    "AuditEntry",
    "AuditLog",
    "AuditNode",
    "Case",
    "Checkpoint",
    "Cosignature",
    "Exchange",
    "ExchangeTranslation",
    "ExportedPackage",
    "ImportedPackage",
    "LoginThrottle",
    "Obligation",
    "Organisation",
    "OrganisationName",
    "OutboxItem",
    "PackageReceipt",
    "PayloadWrap",
    "Peer",
    "PeerCheckpointKey",
    "PeerKey",
    "PeerNonce",
    "PeerOrganisation",
    "Place",
    "SealedPayload",
    "Seizure",
    "Setting",
    "Suspect",
    "User",
    "UserSession",
    "WitnessRefusal",
    "WitnessedCheckpoint",
    "agreement_parties",
    "case_agreements",
    "case_organisations",
]
