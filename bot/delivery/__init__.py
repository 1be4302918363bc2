"""Handing outbox rows to Twilio: claim, re-check, send, record; which sender a message goes out from; sends
Twilio accepted while the database was away."""
