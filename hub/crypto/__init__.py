"""Key material, payload sealing and sealed packages (pure crypto: no database, no Flask)."""
