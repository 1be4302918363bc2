"""Owner-facing HTTP that is not Twilio's: the lead capture API (and, later, stats and the dashboard)."""
