"""The Twilio channel: webhook, signature check, typed inbound payload, TwiML, the sender and the sandbox."""
