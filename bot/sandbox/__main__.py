"""``python -m bot.sandbox``: serve the sandbox in the foreground until interrupted."""

from bot.sandbox import main

main()
