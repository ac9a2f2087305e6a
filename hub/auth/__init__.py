"""Authentication mechanics: password hashing, server-side sessions, API tokens, TOTP."""
