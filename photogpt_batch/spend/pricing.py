"""Prices learned from what was paid: price classes, the history they are learned from, and estimates.

The API publishes no price list; the only cost figure is the ``credits`` that ``GET /jobs`` reports per job,
which the ledger records. A job's *price class* is its model, the values of its price-relevant options (the
``price_options`` hook; a value left out counts as the option's default) and its reference inputs. Within a
class, jobs are assumed to cost the same per video: ``numVideos`` multiplies the price, so a class learned from
one-video jobs prices a four-video job too. An estimate is the highest per-video price paid in the class (a
budget must hold, so the estimate errs high); a class nobody has paid for is unknown: ``None``, never 0.
A price the user states for a class (``run --price``, per video, named as `describe_class` names the class)
prices it too; with a learned price as well, the higher of the two counts.

History comes from any store that can list its job records with their bodies and credits (`ledger_history`
reads it through `Ledger.iter_paid`, a page at a time, the read interface every ledger has), so
the campaign's own ledger, the other ledgers on this machine (`machine_history`) and the other campaigns of a
shared ledger (`store_history`, a page at a time through `Ledger.paid_by_other_campaigns`) all feed the same
`PriceBook`.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from .. import campaign_index
from ..campaign import canonical_json
from ..ledger import Ledger, LedgerError

log = logging.getLogger(__name__)


class PriceRules(Protocol):
    """What pricing needs from the registry (`plugins.Registry` is one)."""

    def price_relevant(self, model_id: str) -> frozenset[str]: ...

    def get(self, model_id: str) -> Any: ...


class Paid(NamedTuple):
    """One job that was paid for: its request body and the credits the API reported for it."""

    body: dict[str, Any]
    credits: float


def num_videos(body: dict[str, Any]) -> int:
    """How many videos a request body asks for (the API's default is 1)."""
    value = body.get("numVideos", 1)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 1


def price_class(body: dict[str, Any], rules: PriceRules) -> str:
    """The price class of a request body, as canonical text: model, price-relevant option values (defaults
    filled in) and reference inputs. ``numVideos``, the prompt and every other option are left out."""
    model_id = str(body.get("modelID", ""))
    relevant = rules.price_relevant(model_id)
    sent: dict[str, Any] = {}
    for group in (body.get("options") or {}).values():  # one option group per body
        if isinstance(group, dict):
            sent.update(group)
    model = rules.get(model_id)
    declared = getattr(model, "options", {}) or {}
    options = {}
    for name in sorted(relevant):
        value = sent.get(name, declared.get(name, {}).get("default"))
        if value is not None:
            options[name] = value
    roles = Counter(str(image.get("role")) for image in body.get("referenceImages") or [] if isinstance(image, dict))
    inputs = {"images": dict(sorted(roles.items())), "videos": len(body.get("referenceVideos") or []),
              "elements": len(body.get("elementIDs") or [])}
    return canonical_json([model_id, options, inputs])


def describe_class(key: str) -> str:
    """A price class (`price_class`'s text) for people, as ``run --price`` names it: the model, then the
    resolution, the duration in seconds and the other price-relevant options, then the reference inputs:
    ``veo-3.1-fast 720p 8 s``, ``seedance-1.5-pro 1080p 5 s draftMode``, ``kling-motion-pro 1 image
    (first_frame), 1 video``. An option that is false or unset is left out."""
    model_id, options, inputs = json.loads(key)
    words = [str(model_id)]
    if "resolution" in options:
        words.append(str(options["resolution"]))
    if "duration" in options:
        words.append("auto duration" if options["duration"] == -1 else f"{options['duration']} s")
    for name, value in options.items():
        if name in ("resolution", "duration") or value is False:
            continue
        words.append(name if value is True else f"{name} {value}")
    refs = [f"{n} image{'s' * (n != 1)} ({role})" for role, n in inputs.get("images", {}).items()]
    refs += [f"{n} {what}{'s' * (n != 1)}" for what, n in (("video", inputs.get("videos", 0)),
                                                           ("element", inputs.get("elements", 0))) if n]
    return " ".join(words) + (" " + ", ".join(refs) if refs else "")


@dataclass
class PriceBook:
    """Per price class, the highest per-video price paid and how many paid jobs it was learned from; and the
    per-video prices the user stated, by the class's description (`describe_class`)."""

    rules: PriceRules
    per_video: dict[str, float] = field(default_factory=dict)
    jobs_seen: int = 0
    stated: dict[str, float] = field(default_factory=dict)

    def learn(self, body: dict[str, Any], credits: float) -> str:
        """Learn from one paid job; returns its price class."""
        key = price_class(body, self.rules)
        price = credits / num_videos(body)
        self.per_video[key] = max(price, self.per_video.get(key, price))
        self.jobs_seen += 1
        return key

    def learn_all(self, paid: Iterable[Paid]) -> PriceBook:
        """Learn from every paid job of ``paid``; returns the book."""
        for item in paid:
            self.learn(item.body, item.credits)
        return self

    def unit_price(self, key: str) -> float | None:
        """The per-video price of class ``key``: the higher of the learned and the stated one (an estimate
        errs high), or None when neither is known."""
        known = [price for price in (self.per_video.get(key), self.stated.get(describe_class(key)) if self.stated
                                     else None) if price is not None]
        return max(known) if known else None

    def estimate(self, body: dict[str, Any]) -> float | None:
        """The estimated credits of a job with this body, or None when its price class was never paid for
        and has no stated price."""
        per_video = self.unit_price(price_class(body, self.rules))
        return None if per_video is None else per_video * num_videos(body)


class Estimate(NamedTuple):
    """The estimated cost of a set of jobs: the total of the priced ones, how many were priced and how many
    not (their price class is unknown), and how many paid jobs the prices were learned from."""

    credits: float
    priced: int
    unknown: int
    learned_from: int

    def to_json(self) -> dict[str, Any]:
        """``{credits, priced, unknown}`` as ``plan --json`` prints it (credits null when nothing is priced)."""
        return {"credits": self.credits if self.priced else None, "priced": self.priced, "unknown": self.unknown}

    def describe(self) -> str:
        """``≈ 3,360 credits (36 priced from 118 past jobs, 9 unknown)``."""
        if not self.priced and not self.unknown:
            return "nothing to pay"
        head = f"≈ {format_credits(self.credits)} credits" if self.priced else "price unknown"
        parts = [f"{self.priced} priced from {self.learned_from} past job{'s' * (self.learned_from != 1)}"]
        if self.unknown:
            parts.append(f"{self.unknown} unknown")
        return f"{head} ({', '.join(parts)})"


def estimate_all(book: PriceBook, bodies: Iterable[dict[str, Any]]) -> Estimate:
    """The estimated cost of jobs with these bodies (see `Estimate`)."""
    credits = 0.0
    priced = unknown = 0
    for body in bodies:
        value = book.estimate(body)
        if value is None:
            unknown += 1
        else:
            credits += value
            priced += 1
    return Estimate(credits, priced, unknown, book.jobs_seen)


def format_credits(value: float) -> str:
    """Credits for people: ``3,360``, ``12.5``."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}".rstrip("0")


def ledger_history(ledger: Ledger) -> Iterator[Paid]:
    """Every succeeded job version in ``ledger`` whose credits are known (current and earlier versions). A
    failed job is refunded, so it says nothing about a class's price."""
    for body, credits in ledger.iter_paid():
        yield Paid(body, credits)


def machine_history(exclude: Path | None = None, index: Path | None = None) -> Iterator[Paid]:
    """What the other ledgers on this machine paid (the folders the campaign index lists, opened read-only;
    ``exclude``: the campaign's own folder). A ledger that cannot be read is skipped."""
    here = exclude.absolute() if exclude is not None else None
    seen: set[Path] = set()
    for entry in campaign_index.read(index):
        folder = Path(entry.output)
        if folder in seen or (here is not None and folder == here):
            continue
        seen.add(folder)
        try:
            with Ledger.open_for_reading(folder) as ledger:
                yield from ledger_history(ledger)
        except (LedgerError, OSError) as exc:
            log.info("cannot read the ledger in %s for prices: %s", folder, exc)


def store_history(ledger: Ledger) -> Iterator[Paid]:
    """What the other campaigns in ``ledger``'s store paid (a shared ledger holds many; a folder's, none), a
    page at a time. A store that cannot answer gives nothing more: prices are a help, not a reason to stop."""
    try:
        for body, credits in ledger.paid_by_other_campaigns():
            yield Paid(body, credits)
    except LedgerError as exc:
        log.info("cannot read the other campaigns' prices in %s: %s", ledger.location, exc)


def learn_prices(ledger: Ledger, rules: PriceRules, output: Path | None = None,
                 others: bool = True) -> PriceBook:
    """A price book from ``ledger`` (the campaign's own) and, with ``others``, every other ledger on this
    machine and the other campaigns of a shared ledger."""
    book = PriceBook(rules).learn_all(ledger_history(ledger))
    if others:
        book.learn_all(machine_history(exclude=output))
        book.learn_all(store_history(ledger))
    return book
