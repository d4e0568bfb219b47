"""``sscard chaos``: the whole back office under a seeded schedule of faults, every invariant
checked against the store afterwards (a development tool, loaded only when asked for)."""
