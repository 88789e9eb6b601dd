"""The media library: uploads and spoken text become normalised Opus files that devices can fetch.

Both paths end the same way: check the audio, normalise and encode it, store it by the SHA-256 of
the result, and record it (title, length, loudness, owner area) in the database. Identical results
are stored once.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import audit
from ..context import Services
from ..db.models import MediaItem
from ..jobs import JobFailed
from . import probe, speech, tools, transcode
from .store import preview_url

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ingest:
    """Where a new item comes from and who it belongs to."""

    title: str
    kind: str
    actor: str
    area_id: str | None
    original_name: str = ""
    text: str | None = None


async def check_upload(services: Services, upload: Path, size: int) -> probe.AudioInfo:
    """Probe an upload before any job starts; removes it and raises MediaRejected when refused.

    It is removed too when the check is cancelled (the controller stopping): no job will take it.
    """
    try:
        return await probe.probe(upload, size, services.settings.media_max_duration_s)
    except BaseException:
        _discard(upload)
        raise


async def from_upload(services: Services, upload: Path, info: probe.AudioInfo, ingest: Ingest,
                      progress: Callable[[float], None]) -> dict[str, Any]:
    """Transcode a checked upload (which this removes); returns the stored item's fields."""
    try:
        return await _store(services, upload, info, ingest, progress)
    except probe.MediaRejected as exc:
        raise JobFailed(exc.code, exc.message) from None
    finally:
        _discard(upload)


async def from_text(services: Services, engine: speech.SpeechEngine, ingest: Ingest,
                    progress: Callable[[float], None]) -> dict[str, Any]:
    """Speak ingest.text with engine and store the result; returns the stored item's fields."""
    work = services.media.temporary_folder("speech-")
    try:
        wav, info = await _spoken(services, engine, ingest.text or "", work, progress)
        return await _store(services, wav, info, ingest, lambda done: progress(0.3 + 0.7 * done))
    except probe.MediaRejected as exc:
        raise JobFailed(exc.code, f"the spoken text: {exc.message}") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)


async def preview_text(services: Services, engine: speech.SpeechEngine, text: str, target: Path,
                       progress: Callable[[float], None]) -> int:
    """Speak text into target (Opus, as the library would store it) and nothing else; returns its
    length in ms. No item of the library is made."""
    work = services.media.temporary_folder("speech-")
    try:
        wav, info = await _spoken(services, engine, text, work, progress)
        bitrate = services.settings.media_bitrate_kbps
        await transcode.transcode(wav, info.demuxer, target, info.duration_s, bitrate,
                                  lambda done: progress(0.3 + 0.7 * done))
        return round(info.duration_s * 1000)
    except probe.MediaRejected as exc:
        raise JobFailed(exc.code, f"the spoken text: {exc.message}") from None
    except tools.ToolFailed as exc:
        log.warning("could not convert a spoken preview: %s", str(exc)[:300])
        raise JobFailed("media_conversion_failed", "the audio could not be converted") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)


async def _spoken(services: Services, engine: speech.SpeechEngine, text: str, work: Path,
                  progress: Callable[[float], None]) -> tuple[Path, probe.AudioInfo]:
    """The text spoken into a WAV file in work, checked; raises JobFailed when the engine fails."""
    wav = work / "speech.wav"
    try:
        await engine.synthesize(text, wav)
    except tools.ToolFailed as exc:
        log.warning("%s could not speak a text: %s", engine.name, str(exc)[:300])
        raise JobFailed("speech_failed", "the text could not be spoken") from None
    progress(0.3)
    return wav, await probe.probe(wav, _size(wav), services.settings.media_max_duration_s)


async def _store(services: Services, source: Path, checked: probe.AudioInfo, ingest: Ingest,
                 progress: Callable[[float], None]) -> dict[str, Any]:
    encoded = source.with_name(source.name + ".opus")
    try:
        bitrate = services.settings.media_bitrate_kbps
        measured = await transcode.transcode(source, checked.demuxer, encoded, checked.duration_s, bitrate,
                                             progress)
        info = await probe.probe(encoded, _size(encoded), services.settings.media_max_duration_s)
        sha, size = _keep(services, encoded)
    except tools.ToolFailed as exc:
        log.warning("could not convert %s: %s", ingest.original_name or ingest.kind, str(exc)[:300])
        raise JobFailed("media_conversion_failed", "the audio could not be converted") from None
    finally:
        _discard(encoded)
    with services.db.session() as session:
        item = session.get(MediaItem, sha)
        if item is None:
            item = MediaItem(sha256=sha, title=ingest.title, kind=ingest.kind, text=ingest.text,
                             original_name=ingest.original_name, duration_ms=round(info.duration_s * 1000),
                             size=size, loudness_lufs=measured.integrated, area_id=ingest.area_id,
                             created_by=ingest.actor)
            session.add(item)
        audit.record(session, ingest.actor, f"media.{ingest.kind}", [sha], title=ingest.title,
                     name=ingest.original_name, duration_ms=item.duration_ms)
        return describe(item)


def describe(item: MediaItem) -> dict[str, Any]:
    """An item as the API shows it (with the URL the console plays it from)."""
    return {"sha256": item.sha256, "title": item.title, "kind": item.kind,
            "original_name": item.original_name, "text": item.text, "duration_ms": item.duration_ms,
            "size": item.size,
            "loudness_lufs": item.loudness_lufs, "area_id": item.area_id, "created_by": item.created_by,
            "created_at": item.created_at.isoformat() if item.created_at else None,
            "preview_url": preview_url(item.sha256)}


def _size(path: Path) -> int:
    return path.stat().st_size


def _keep(services: Services, encoded: Path) -> tuple[str, int]:
    """Move the encoded file into the store; returns its hash and size."""
    with encoded.open("rb") as stream:
        return services.media.put(stream, max_bytes=1 << 40)


def _discard(path: Path) -> None:
    path.unlink(missing_ok=True)
