"""automl's built-in plugins, installed as the package `automl_plugins`.

Each module is an entry point in the `automl` group, registered exactly like a third-party
plugin.
"""
