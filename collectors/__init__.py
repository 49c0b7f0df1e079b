"""socmon layer: collectors."""
