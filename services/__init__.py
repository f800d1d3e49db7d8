"""Vigil's runnable services (ingest, fusion, alert) and the `vigil` command."""
