"""The cardholder aggregate: one stream per holder, from card issue through every replacement."""
