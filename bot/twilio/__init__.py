"""Twilio's side of the conversation, with no Leadline rules in it: the webhook signature check, the inbound
payload as a typed value, the REST client for the Messages resource, and per-sender send rates."""
