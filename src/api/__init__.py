"""The HTTP API: who is asking (bearer tokens verified into identities); its routes come next."""
