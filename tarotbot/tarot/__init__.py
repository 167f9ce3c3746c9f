"""The tarot domain: deck, spreads, seeded draws, interpretation and pictures.

Pure by design: this package imports only the standard library, Pillow, Babel
(CLDR plural rules) and its own modules, never the application (database,
Redis, Telegram). Network I/O for an LLM interpreter lives outside, in
:mod:`tarotbot.interpreter`.

Modules, one per domain noun:

- :mod:`.deck`: the 78 cards, loaded from ``data/*.json`` and validated once.
- :mod:`.spreads`: the nine spreads, their positions, costs and layouts.
- :mod:`.languages`: the languages readings are written in; the deck and spreads in each.
- :mod:`.draw`: verifiable seeded draws (HMAC-SHA256 stream + Fisher-Yates).
- :mod:`.compose`: the built-in interpreter that writes a reading (the logic).
- :mod:`.card_texts`: what each card says by position role and question topic
  (``data/texts/*.json``), several wordings per slot.
- :mod:`.phrasing`: the composer's own wording (``data/phrasing/*.json``), validated once.
- :mod:`.report`: the composer's output measured (length, repetition, slips).
- :mod:`.prompt`: the chat messages for an LLM interpreter.
- :mod:`.safety`: questions that call for real help before (or instead of) cards.
- :mod:`.telegram_text`: Telegram-HTML escaping, validation and splitting.
- :mod:`.render`: the spread picture (PNG or JPEG).
- :mod:`.errors`: the exceptions above raise.
"""
