"""Run folders, torch-free: what a folder holds and its checked metadata (meta.py,
folder.py), finding a run by model name (find.py), one writer at a time (lock.py),
and naming, staging and publishing a new run (writer.py)."""
