"""firefleet cloud."""
