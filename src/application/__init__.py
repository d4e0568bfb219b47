"""The application layer: every command and query an entry point may call, with typed inputs and
typed results. The command line and the HTTP API parse their input, call these, and render the
results (the models are the output contract: what ``--json`` prints and the API returns)."""
