"""Sequences: the spec's named, ordered lists of jobs, whose videos are joined into
``<output>/sequences/<name>.mp4``. `state` says where each sequence stands (pure: no PyAV, for ``status``),
`join` joins clips with PyAV, `build` writes the sequences after a run."""
