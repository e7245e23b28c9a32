"""The plugin API's types, at the bottom of the engine: the hooks (`hookspecs`), what a
plugin registers (`models.ModelFamily`, `metrics.Metric`), the errors that reach the user
(`errors`), declared task-file options (`schema`), class-balanced decisions
(`decisions`), a run's result types (`results`) and the run's cache (`caches`). Every
name a plugin needs is re-exported by ``automl`` itself; nothing here imports a room above.
"""
