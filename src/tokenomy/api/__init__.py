"""The analytics API (``/api/v1``): summary, breakdown, and what the dashboard reads."""
