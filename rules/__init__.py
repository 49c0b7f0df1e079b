"""socmon layer: rules."""
