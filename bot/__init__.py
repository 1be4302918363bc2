"""The conversation with prospects and reps over Twilio, one sub-package per concept:

- ``bot.webhook``: Twilio's webhooks (inbound messages, status callbacks), the HTTP edge;
- ``bot.conversation``: a turn, from an inbound message to its replies (STOP/START/HELP included);
- ``bot.reps``: what reps and the owner do with a lead (actions, SMS commands, ownership, CRM notes);
- ``bot.delivery``: handing outbox rows to Twilio, once;
- ``bot.twilio``: Twilio's side with no Leadline rules (signature, payload, REST client, send rates);
- ``bot.llm`` the model adapter, ``bot.errors`` every exception, ``bot.logs`` masked logging;
- ``bot.sandbox``, ``bot.devserver``, ``bot.chat``: ``make run`` (a Twilio emulator, the launcher, the chat).
"""
