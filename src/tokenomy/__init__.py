"""Tokenomy: every AI operation measured, predicted and made cheaper."""
