"""Coaching: workspaces, goals, todos, chat sessions with an LLM coach, and background tasks (issue 14)."""
