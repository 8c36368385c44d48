"""Runtime backends: what makes a deploy's code state live (filesystem by default)."""
