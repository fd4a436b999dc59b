"""The review page: a campaign's videos in one static HTML file, laid out by its matrix, to compare and pick.

    from photogpt_batch.review import write_gallery, record_picks

    write_gallery(campaign)                        # <output>/index.html
    record_picks(campaign, Path("demo-picks.json"))  # the page's export, into the ledger

See `page` (the file and its escaping), `data` (what it shows) and `picks` (the picks file and the ledger).
"""

from .data import campaign_axes, gallery_data
from .page import PAGE, GalleryError, embed_json, render_page, write_gallery
from .picks import PicksError, RecordedPicks, record_picks, recorded_picks

__all__ = [
    "PAGE",
    "GalleryError",
    "PicksError",
    "RecordedPicks",
    "campaign_axes",
    "embed_json",
    "gallery_data",
    "record_picks",
    "recorded_picks",
    "render_page",
    "write_gallery",
]
