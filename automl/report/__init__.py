"""The HTML report: one self-contained file that opens offline, drawn from a run's
output folder alone.

- `page`: the page, a loop over every registered section in order;
- `builtin`: the built-in sections (the built-in plugin ``report``);
- `context`: what a section is given (`SectionContext`), tables and plots as markup;
- `section`: what a plugin registers (`ReportSection`);
- `summary`: the verdict and the other sentences worked out from the numbers;
- `charts`: the plots as Vega-Lite specs;
- ``templates/`` and ``static/``: the Jinja2 templates, style sheet and scripts.

To add a section, register a `ReportSection` (see docs/writing-plugins.md); the built-in
ones in `builtin` are examples. The package imports none of its modules: registering a
plugin's section (`section`) does not load the page and what it draws on.
"""
