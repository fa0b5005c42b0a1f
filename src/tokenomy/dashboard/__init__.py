"""The web dashboard at ``/``: static pages (assets.py) that read the analytics API, and
the server-sent events that keep the Overview and Gateway pages live (live.py)."""
