"""The conversation: a LangGraph state machine that decides what to say. No Flask, no Twilio, no I/O."""
