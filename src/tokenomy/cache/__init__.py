"""Response caching: exact (a normalised request as the key) and semantic (semantic/:
near-identical questions, verified before a hit is served)."""
