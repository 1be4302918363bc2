"""Persistence: SQLAlchemy models, sessions, migrations and the LangGraph checkpointer. Knows nothing of HTTP."""
