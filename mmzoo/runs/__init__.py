"""Run folders, torch-free: what a folder holds, which folder a target names and its
checked files (folder.py), the metadata parsed once (meta.py, RunMeta), the corpus a
run was trained on, found again (data.py), the plugin spec that rebuilds a run
(spec.py), one writer at a time (lock.py), naming, staging and publishing a new run
(writer.py), and listing runs with their curves for `mmzoo runs` (listing.py)."""
