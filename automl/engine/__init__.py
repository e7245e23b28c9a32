"""The engine that drives a run, at the top: the task file (`task`), the plugin registry
(`plugins`), one run from task to report (`run`), what the terminal shows (`progress`),
the output folder (`outputs`), saved models (`saved_models`) and the commands that read
a finished run (`predict`, `onnx_files`)."""
