"""Twilio's side of the conversation, with no Leadline rules in it: the webhook signature check, the inbound
payload as a typed value, the REST sender and its errors, and per-sender send rates."""
