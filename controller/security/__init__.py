"""Users, passwords, tokens and permissions."""
