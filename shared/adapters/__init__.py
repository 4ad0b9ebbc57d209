"""Adapters: the only place that talks to Azure SDKs (or their local twins). The core never imports these."""
