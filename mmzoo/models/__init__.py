"""The built-in model families, one folder each, laid out like a plugin package:
`__init__.py` holds the configs and registers the specs (torch-free), `model.py` the
plain-PyTorch network. blocks.py holds the layers several families share. Each family
is one `mmzoo` entry point in pyproject.toml, exactly as a third-party plugin is."""
