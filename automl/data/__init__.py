"""Data in: reading the user's files (`table_files`, within `input_bounds`), typing a
table's columns and encoding them inside a model (`tables`), the kinds of input
(`input_kinds`), the dataset a loader returns made into a task's splits (`datasets`), the
validation folds every family is judged on (`folds`) and engineered features
(`features`)."""
