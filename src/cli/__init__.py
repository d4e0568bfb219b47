"""``sscard``, the command line: parse, call the composition root, print. No rule lives here."""
