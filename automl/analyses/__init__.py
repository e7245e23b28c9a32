"""The analyses a run makes after its search and refits, each a registered `Analysis`
(`automl.analyses.api`): the built-in ones (`automl.analyses.builtin`, the built-in
plugin ``analyses``) exactly as a third-party plugin's, run one after another by
`automl.analyses.stage`."""
