"""Sample projections over the sample domains (user directory, order summary, inventory).

Not written yet: they arrive with the projection workers (issue 4). This folder
holds the package so the project layout is in place.
"""
