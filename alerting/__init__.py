"""socmon layer: alerting."""
