"""The torch side: training, checkpoints, calibration, folding, export and diagnose.
Everything under mmzoo/engine (and mmzoo/models) imports torch; nothing outside
them imports torch at module level, so the CLI front, the plugin loader and the
onnxruntime path stay light."""
