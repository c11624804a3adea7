"""The torch side: every module under mmzoo/engine imports torch (so do each model
family's model.py, models/blocks.py and mmzoo.nn, their public face for plugins);
nothing else imports torch at module level, so the CLI front, the plugin loader, run
folders, graph passes and the onnxruntime path stay light (tests/test_torch_free.py
imports every other module with torch made unimportable).

Rooms: training/ (the loop), data/ (splits as tensors), export/ (ONNX export and its
checks), diagnose/ (lecture 3's experiments), commands/ (one module per CLI command);
checkpoint.py writes weights, opened_run.py opens a run once for every command."""
