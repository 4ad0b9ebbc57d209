"""Stand-ins for Azure services that cannot be reached from here, driven through the real SDK clients."""
