"""Coach models: an OpenAI-compatible endpoint, and the offline scripted coach (the embedded default)."""
