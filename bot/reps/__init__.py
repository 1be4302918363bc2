"""What reps and the owner do with a lead: lead actions (claim, book, lose, take over, reply, approve a draft),
the SMS commands reps text to the bot's number, who owns a new lead, and the CRM note."""
