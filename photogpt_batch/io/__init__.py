"""Files the tool writes: `durable` (link-safe, durable writes inside the output folder and the folders it owns),
`jsonstream` (large JSON documents written piece by piece), `unchanged` (a file replaced with content given in
pieces, unless it already holds it), `checked` (the record of downloaded files already checked, by their stat
fingerprint), `stamps` (a view not made at all when what it is made from did not change), `reads` (the files
a spec's load reads, by their stat fingerprint, for its memo) and `fsclock` (the file system's clock, which says
when a stat fingerprint can be trusted). Standard library only, the layout's names and the
tool's version."""
