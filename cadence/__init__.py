"""Follow-ups: enrolling a quiet lead, the day-N touches and their dispatch to Redis, and the lead's clock
(local time zone, quiet hours, call window, WhatsApp's 24-hour window)."""
