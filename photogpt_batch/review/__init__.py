"""The review page: a campaign's videos in one static HTML file, laid out by its matrix, to compare and pick.

    from photogpt_batch.review import write_review_page, record_picks

    write_review_page(campaign)                        # <output>/index.html
    record_picks(campaign, Path("demo-picks.json"))  # the page's export, into the ledger

See `page` (the file and its escaping), `data` (what it shows) and `picks` (the picks file and the ledger).
"""

from .data import campaign_axes, review_page_data
from .page import PAGE, ReviewPageError, embed_json, render_page, write_review_page
from .picks import PicksError, RecordedPicks, record_picks, recorded_picks

__all__ = [
    "PAGE",
    "PicksError",
    "RecordedPicks",
    "ReviewPageError",
    "campaign_axes",
    "embed_json",
    "record_picks",
    "recorded_picks",
    "render_page",
    "review_page_data",
    "write_review_page",
]
