"""The torch-side bodies of the CLI commands: each turns a request from
mmzoo.cli into a run of the engine and a JSON-able result."""
