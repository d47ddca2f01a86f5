"""firefleet edge."""
