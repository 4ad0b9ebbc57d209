"""Local mode: the same code on one machine, with Azurite for storage and local twins of the Azure services."""
