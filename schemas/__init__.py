"""JSON Schemas of what Vigil publishes (shipped as package data so services can validate)."""
