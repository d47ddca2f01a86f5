"""The one-command demo: an embedded broker, simulated sites, one agent per site, the collector and its
console, and a scenario that loops. Orchestration only: nothing here is part of the collector."""
