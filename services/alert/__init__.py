"""The alert service: window scores in, deduplicated incident alerts (CloudEvents) out via Redis."""
