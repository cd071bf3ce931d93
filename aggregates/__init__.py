"""Sample domains modelled with eventsourcing_core (user, order, inventory).

Not written yet: they arrive with the aggregates work (issue 3). This folder
holds the package so the project layout is in place.
"""
