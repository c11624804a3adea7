"""The command line, torch-free at import: the typer app (app.py), the fast path
for .onnx files without typer (fast.py), the torchrun relaunch of --nproc (launch.py)
and the shared terminal output (output.py)."""
