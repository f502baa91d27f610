"""Tables of the Telegram bot (users, subscriptions, personal watchlists, mutes, feedback)."""
