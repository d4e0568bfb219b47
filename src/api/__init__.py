"""The HTTP API: its routes over the application layer, who may use each (bearer tokens verified
into identities, the endpoint table, the one access dependency), refusals and the access log."""
