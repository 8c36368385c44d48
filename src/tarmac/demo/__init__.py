"""``tarmac demo``: a ready-to-try installation with sample deploys."""
