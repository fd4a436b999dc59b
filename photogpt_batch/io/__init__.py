"""Files the tool writes: `durable` (link-safe, durable writes inside the output folder and the folders it owns)
and `jsonstream` (large JSON documents written piece by piece). Standard library only."""
