"""The public feeds (R6, R21) as thin use cases: query, map to plain records, render.

Each returns `(content_type, body)`; the HTTP layer adds caching headers. `feed_routes`
maps the public paths to them for `liuan_bot.app.Routes.feeds`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from handlers.context import Deps
from liuan_bot.feeds import (
    EPOCH,
    FEED_MAX_ENTRIES,
    ConferenceItem,
    DirectoryUnit,
    Spokesperson,
    render_atom,
    render_calendar,
    render_directory_html,
    render_directory_json,
)
from storage.engine import read_only
from storage.feed_store import (
    calendar_conferences,
    public_spokespersons,
    recent_releases,
    revision_counts,
)
from storage.tables import Conference, Person, Unit

CALENDAR_PATH = "/feeds/conferences.ics"
RELEASES_PATH = "/feeds/releases.atom"
DIRECTORY_PATH = "/directory"
DIRECTORY_JSON_PATH = "/directory.json"

ICS_TYPE = "text/calendar; charset=utf-8"
ATOM_TYPE = "application/atom+xml; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"
JSON_TYPE = "application/json; charset=utf-8"

CALENDAR_HISTORY = timedelta(days=365)  # the latest ~12 months, plus everything upcoming

Feed = Callable[[], Awaitable[tuple[str, str]]]


def _item(conf: Conference, unit: str, sequence: int = 0) -> ConferenceItem:
    held = conf.state == "held"
    return ConferenceItem(
        record_id=conf.record_id,
        topic=conf.topic,
        unit=unit,
        starts_at=conf.starts_at,
        venue=conf.venue,
        speakers=tuple(conf.speakers),
        updated_at=conf.updated_at,
        held_at=conf.held_at if held else None,
        held_speakers=tuple(conf.held_speakers) if held else (),
        key_points=conf.key_points if held else "",
        transcript_url=conf.transcript_url if held else "",
        video_url=conf.video_url if held else "",
        live=conf.live,
        cancelled=conf.state == "withdrawn",
        sequence=sequence,
    )


async def conference_calendar(deps: Deps) -> tuple[str, str]:
    """GET /feeds/conferences.ics: scheduled, filed and held conferences (R21 previews)."""
    since = deps.clock.now() - CALENDAR_HISTORY
    async with deps.sessions() as session:
        await read_only(session)
        rows = await calendar_conferences(session, since)
        sequences = await revision_counts(session, [conf.record_id for conf, _ in rows])
    items = (_item(conf, unit, sequences.get(conf.record_id, 0)) for conf, unit in rows)
    return ICS_TYPE, render_calendar(items)


async def release_feed(deps: Deps) -> tuple[str, str]:
    """GET /feeds/releases.atom: held conferences, newest first (R21 records)."""
    async with deps.sessions() as session:
        await read_only(session)
        rows = await recent_releases(session, FEED_MAX_ENTRIES)
    self_url = f"{deps.settings.link_base}{RELEASES_PATH}"
    items = [_item(conf, unit) for conf, unit in rows]
    return ATOM_TYPE, render_atom(items, self_url=self_url, tz=deps.clock.tz)


async def _directory(deps: Deps) -> tuple[list[DirectoryUnit], datetime]:
    async with deps.sessions() as session:
        await read_only(session)
        groups = await public_spokespersons(session)
    units = [_directory_unit(unit, people) for unit, people in groups]
    stamps = [unit.updated_at for unit, _ in groups]
    stamps += [person.updated_at for _, people in groups for person in people]
    updated = max(stamps, default=EPOCH).astimezone(deps.clock.tz)
    return units, updated


def _directory_unit(unit: Unit, people: list[Person]) -> DirectoryUnit:
    """Only the public fields (R6): never a mobile number or a WeCom account."""
    return DirectoryUnit(
        unit=unit.name,
        unit_type=unit.unit_type,
        office_phone=(unit.office_phone or "").strip() or None,
        spokespersons=tuple(Spokesperson(name=p.name, title=p.title) for p in people),
    )


async def directory_page(deps: Deps) -> tuple[str, str]:
    """GET /directory: the public spokesperson directory (R6) as an HTML page."""
    units, updated = await _directory(deps)
    return HTML_TYPE, render_directory_html(units, updated)


async def directory_json(deps: Deps) -> tuple[str, str]:
    """GET /directory.json: the same directory as JSON."""
    units, updated = await _directory(deps)
    return JSON_TYPE, render_directory_json(units, updated)


def feed_routes(deps: Deps) -> dict[str, Feed]:
    """The public GET routes, path → feed, for `Routes.feeds`."""

    def bind(use_case: Callable[[Deps], Awaitable[tuple[str, str]]]) -> Feed:
        async def feed() -> tuple[str, str]:
            return await use_case(deps)

        return feed

    return {
        CALENDAR_PATH: bind(conference_calendar),
        RELEASES_PATH: bind(release_feed),
        DIRECTORY_PATH: bind(directory_page),
        DIRECTORY_JSON_PATH: bind(directory_json),
    }
