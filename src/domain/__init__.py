"""The card replacement domain: identifiers, region policy, the cardholder aggregate and its rules.

Imports only the standard library, pydantic and ``eventsourcing.domain``/``.application``.
"""
