"""What a campaign costs: `pricing` learns prices from what was paid and estimates what a plan will cost;
`budget` keeps a run within its credits and describes what a run is about to pay for (`SpendPreview`).

Plain figures, no I/O beyond reading ledgers: ``plan`` and ``status`` use them as well as the engine.
"""
