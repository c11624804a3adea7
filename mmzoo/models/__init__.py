"""Plain-PyTorch models of the built-in families. Their plugins live in mmzoo.builtin."""
