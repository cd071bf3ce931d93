"""The sample domains, shipped with the package so that ``escore demo`` runs anywhere.

- ``eventsourcing_core.samples.aggregates``: users (with unique usernames),
  orders and inventory, as a tutorial of the aggregate layer, and the stories
  the demo plays;
- ``eventsourcing_core.samples.projections``: read models, a process manager
  and a side effect built on them.

``escore`` uses them when neither ``--aggregates`` / ``--projections`` nor a
``[tool.escore]`` table names an application's own. Importing
``eventsourcing_core`` does not import them.
"""
