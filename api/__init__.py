"""socmon layer: api."""
