"""Fits that can be stopped and sized: one fit and its score (`evaluate`), run in a
worker a time limit can end (`stoppable`, `fold_server`), on as many rows as its limit
allows (`sizing`, `row_plans`), within the whole command's time plan (`budget`), on the
chosen device (`devices`), its peak memory measured (`memory`). The search and the
analyses sit above."""
