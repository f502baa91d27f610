"""The Telegram bot: users subscribe, tune their alerts and give feedback from the chat.

Modules, from the outside in:

- ``service``   builds the bot around the Telegram channel's ``Bot`` and runs it in the daemon;
- ``poller``    getUpdates long polling: persisted offset, 409 back-off, per-chat lanes;
- ``handlers``  one update: rate limit, access, then a command, a button or a membership;
- ``chat_commands`` / ``admin_commands`` / ``callbacks``  what each command and button does;
- ``access``    who may use the bot and who administers a group (getChatMember);
- ``quotas``    per-user command rate, stored-row quotas, personal watchlist validation;
- ``directory`` the bot's chats and personal watchlists merged with monitor.yaml's;
- ``commands``  the command table (/help, setMyCommands) and command parsing;
- ``buttons``   signed callback data of inline buttons;
- ``replies``   answers sent straight through the Bot, within Telegram's rate limits.

Alerts never go out from here: they go through the outbox like every other alert.
"""
