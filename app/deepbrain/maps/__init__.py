"""Building the brain maps: activity patterns over phones -> t-SNE -> Delaunay, with each
unit's preferred phone, phoneme selectivity index and entropy (issue: build-map)."""
