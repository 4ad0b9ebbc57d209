"""The service layer: use cases that drive the core through the ports (ingest, schedule, runs, status)."""
