"""Owner-facing HTTP that is not Twilio's: the lead capture API, stats, Calendly bookings, metrics, privacy
erasure and the dashboard. Work is queued through the runtime's jobs port, never by importing jobs/."""
