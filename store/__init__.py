"""Persistence, and every query Leadline makes: SQLAlchemy models, sessions, migrations, the LangGraph
checkpointer, the Redis connection and counters. Functions take the session first and other arguments by
keyword, and are named for what they return. Knows nothing of HTTP, Twilio or the conversation."""
