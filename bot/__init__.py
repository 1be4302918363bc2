"""The conversation with prospects and reps over Twilio: the webhook, the turn, reps' actions and commands,
delivery of what the bot says, and Twilio's side of it (signature, payload, sender, sandbox)."""
