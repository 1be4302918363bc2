"""A conversation turn: an inbound message attached to its lead, compliance keywords (STOP/START/HELP), the
model's intents, the graph run, and its replies, rep alerts and lead updates written once."""
