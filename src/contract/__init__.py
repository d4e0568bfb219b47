"""The published language: the public form of events and the envelope it travels in.

What the relay publishes, what a replay of the store hands the read models, and what consumers
parse: one definition, below relay, consumers and projections, with no I/O.
"""
