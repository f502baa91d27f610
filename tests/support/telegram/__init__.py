"""A local Telegram Bot API for tests: see ``emulator.TelegramEmulator``.

Modules: ``emulator`` (the server tests start and program), ``bot_api`` (state and
dispatch), ``methods`` (the Bot API methods), ``markup`` (Telegram's HTML parse mode),
``objects`` (Bot API JSON builders and error wording), ``polling`` (getUpdates queue),
``records`` (what is recorded, faults, rates), ``transport`` (HTTP).
"""
