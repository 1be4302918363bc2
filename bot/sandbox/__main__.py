"""``python -m bot.sandbox``: serve the sandbox in the foreground until interrupted."""

from bot.sandbox.cli import main

main()
