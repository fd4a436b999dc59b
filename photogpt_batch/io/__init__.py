"""Files the tool writes: `durable` (link-safe, durable writes inside the output folder and the folders it owns),
`jsonstream` (large JSON documents written piece by piece), `unchanged` (a file replaced with content given in
pieces, unless it already holds it) and `checked` (the record of downloaded files already checked, by their stat
fingerprint). Standard library only, and the layout's names."""
