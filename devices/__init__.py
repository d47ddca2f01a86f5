"""firefleet devices."""
