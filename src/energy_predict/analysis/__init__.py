"""Analysis behind docs/: findings and validation tables and figures, regenerated from the artifacts."""
