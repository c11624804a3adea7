"""The command line, torch-free at import: the typer app (app.py), the fast path
for .onnx files (fast.py), the shared option table (options.py) and output."""
