"""Everything about campaign specs, in the order the data flows:

- `document`: the YAML file read into a tree that knows its positions (or, quickly, a plain one);
- `templates`: ``{name}`` placeholders, parsed once and filled per job;
- `ids`: the rules for job ids (written and expanded) and the output folders they name;
- `matrix`: a job entry's matrix, its combinations and ``exclude`` rules;
- `expand`: the campaign's top level and each entry expanded into jobs (defaults, vars, matrix);
- `validation`: each job checked against its model's schema and rules, and its request built;
- `load`: `load_campaign`, the entry point that runs the three steps above;
- `memo` and `memo_data`: what a load made, kept and given back while nothing it was made from changed;
- `selection`: ``--only``, picking jobs of a loaded campaign; `schemas`: the JSON Schemas for editors;
- `text` and `reporter`: how paths and values are written in messages, and where messages are collected.

This module imports nothing, so that each module above can be imported on its own (a test checks that every
one of them does, which fails on an import cycle).
"""
