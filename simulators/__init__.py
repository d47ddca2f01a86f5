"""firefleet simulators."""
