"""Access control: users, API tokens, roles and the one permission check."""
