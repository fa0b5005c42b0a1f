"""Translation between the protocols the gateway speaks, so a client of one protocol can use
a deployment of another: an OpenAI chat-completions client on Anthropic or Gemini, an
Anthropic Messages client (Claude Code) on an OpenAI-protocol deployment or Gemini.

Pure functions of bodies and events, no I/O: the gateway calls :func:`translator` and, when
it gives one, passes request, answer, stream events and errors through it. Usage is always
read on the provider's side (exact categories) for recording; the client gets it converted.
"""

from __future__ import annotations

from collections.abc import Callable

from tokenomy.gateway.translate.anthropic_gemini import AnthropicToGemini
from tokenomy.gateway.translate.anthropic_openai import AnthropicToOpenAI
from tokenomy.gateway.translate.base import (
    Protocol,
    StreamTranslator,
    TranslationError,
    Translator,
)
from tokenomy.gateway.translate.gemini import OpenAIToGemini, gemini_usage
from tokenomy.gateway.translate.openai_anthropic import DEFAULT_MAX_TOKENS, OpenAIToAnthropic

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "Protocol",
    "StreamTranslator",
    "TranslationError",
    "Translator",
    "gemini_usage",
    "translator",
]

# (client protocol, provider protocol) -> its translator
_TRANSLATORS: dict[tuple[Protocol, Protocol], Callable[[], Translator]] = {
    ("openai", "anthropic"): OpenAIToAnthropic,
    ("anthropic", "openai"): AnthropicToOpenAI,
    ("openai", "gemini"): OpenAIToGemini,
    ("anthropic", "gemini"): AnthropicToGemini,
}


def translator(client: Protocol, provider: Protocol) -> Translator | None:
    """The translator from ``client``'s protocol to ``provider``'s; None when they are the
    same (pass-through). Raises :class:`TranslationError` for a pair with no translation
    (the gateway has no Gemini-protocol endpoint for clients)."""
    if client == provider:
        return None
    make = _TRANSLATORS.get((client, provider))
    if make is None:
        raise TranslationError(f"no translation from {client} clients to {provider} deployments")
    return make()
