"""Events: one ECS document per deploy, rollback, setting change and cleanup."""
