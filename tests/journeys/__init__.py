"""Cross-cutting journeys: real processes, two hubs, serve, deploy, backup, crash, a long day."""
