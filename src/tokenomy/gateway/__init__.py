"""The gateway: an OpenAI- and Anthropic-compatible HTTP proxy that records every call."""
