"""A small ISO-BMFF (MP4/MOV/M4A) box reader: tracks, durations and sample counts.

It seeks from box header to box header and reads only the few bytes of each box it needs,
so a multi-gigabyte file costs a handful of small reads. Fragmented MP4 keeps its samples in
``moof`` boxes instead of ``stsz``; their ``trun`` sample counts are summed per track.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

# Boxes whose payload is nothing but more boxes, on the paths to what we read.
_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"moof", b"traf", b"mvex"}
_MAX_DEPTH = 8


class Mp4Error(ValueError):
    """The file is not a well-formed ISO-BMFF file (the message says where it breaks)."""


@dataclass
class Track:
    track_id: int = 0
    #: 'vide', 'soun', 'text', ... from the hdlr box.
    handler: str = ""
    width: int = 0
    height: int = 0
    timescale: int = 0
    duration: int = 0
    #: Samples in the sample table plus those in movie fragments; a video sample is a frame.
    sample_count: int = 0

    @property
    def duration_s(self) -> float | None:
        return self.duration / self.timescale if self.timescale and self.duration else None


@dataclass
class Movie:
    tracks: list[Track] = field(default_factory=list)
    timescale: int = 0
    duration: int = 0
    #: From mvex/mehd in fragmented files (movie timescale units).
    fragment_duration: int = 0
    mdat_bytes: int = 0
    has_moov: bool = False

    def tracks_of(self, handler: str) -> list[Track]:
        return [t for t in self.tracks if t.handler == handler]

    @property
    def duration_s(self) -> float | None:
        longest = self.duration or self.fragment_duration
        if self.timescale and longest:
            return longest / self.timescale
        durations = [d for t in self.tracks if (d := t.duration_s) is not None]
        return max(durations) if durations else None


def read_movie(path: str | Path) -> Movie:
    """Parse the box structure of ``path``; raise :class:`Mp4Error` when it is broken."""
    with Path(path).open("rb") as fh:
        end = fh.seek(0, 2)
        movie = Movie()
        _Reader(fh, movie).walk(0, end, depth=0, track=None)
    if not movie.has_moov:
        raise Mp4Error("no moov box (the file is truncated or not a finished MP4)")
    return movie


class _Reader:
    def __init__(self, fh: BinaryIO, movie: Movie) -> None:
        self.fh = fh
        self.movie = movie
        # track_ID of the traf being read, so its trun samples land on the right track.
        self.fragment_track: Track | None = None

    def walk(self, start: int, end: int, *, depth: int, track: Track | None) -> None:
        if depth > _MAX_DEPTH:
            raise Mp4Error("boxes nested too deeply")
        for kind, payload, box_end in self._boxes(start, end):
            if kind == b"trak":
                new_track = Track()
                self.movie.tracks.append(new_track)
                self.walk(payload, box_end, depth=depth + 1, track=new_track)
            elif kind in _CONTAINERS:
                if kind == b"moov":
                    self.movie.has_moov = True
                self.walk(payload, box_end, depth=depth + 1, track=track)
            elif kind == b"mdat":
                self.movie.mdat_bytes += box_end - payload
            else:
                self._leaf(kind, payload, box_end, track)

    def _boxes(self, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
        pos = start
        while pos + 8 <= end:
            self.fh.seek(pos)
            size, kind = struct.unpack(">I4s", self._read(8))
            header = 8
            if size == 1:
                (size,) = struct.unpack(">Q", self._read(8))
                header = 16
            elif size == 0:  # "extends to the end of the enclosing box"
                size = end - pos
            if size < header:
                raise Mp4Error(f"box {kind!r} at byte {pos} has an impossible size {size}")
            if pos + size > end:
                raise Mp4Error(
                    f"box {kind.decode('latin-1')!r} at byte {pos} runs past the end of "
                    f"its container (truncated file?)"
                )
            yield kind, pos + header, pos + size
            pos += size

    def _read(self, n: int) -> bytes:
        data = self.fh.read(n)
        if len(data) != n:
            raise Mp4Error("unexpected end of file")
        return data

    def _payload(self, start: int, end: int, n: int) -> bytes:
        if end - start < n:
            raise Mp4Error(f"box at byte {start} is too short")
        self.fh.seek(start)
        return self._read(n)

    def _leaf(self, kind: bytes, start: int, end: int, track: Track | None) -> None:
        movie = self.movie
        if kind == b"mvhd":
            movie.timescale, movie.duration = self._timescale_duration(start, end)
        elif kind == b"mehd":
            head = self._payload(start, end, 4)
            fmt, n = (">Q", 8) if head[0] == 1 else (">I", 4)
            (movie.fragment_duration,) = struct.unpack(fmt, self._payload(start + 4, end, n))
        elif kind == b"tfhd":
            (track_id,) = struct.unpack(">I", self._payload(start + 4, end, 4))
            self.fragment_track = next((t for t in movie.tracks if t.track_id == track_id), None)
        elif kind == b"trun" and self.fragment_track is not None:
            (count,) = struct.unpack(">I", self._payload(start + 4, end, 4))
            self.fragment_track.sample_count += count
        elif track is None:
            return
        elif kind == b"tkhd":
            version = self._payload(start, end, 1)[0]
            id_offset = 4 + (16 if version == 1 else 8)
            (track.track_id,) = struct.unpack(">I", self._payload(start + id_offset, end, 4))
            # Width and height are the box's last 8 bytes, as 16.16 fixed point.
            width, height = struct.unpack(">II", self._payload(end - 8, end, 8))
            track.width, track.height = width >> 16, height >> 16
        elif kind == b"mdhd":
            track.timescale, track.duration = self._timescale_duration(start, end)
        elif kind == b"hdlr":
            track.handler = self._payload(start + 8, end, 4).decode("latin-1")
        elif kind in (b"stsz", b"stz2"):
            (count,) = struct.unpack(">I", self._payload(start + 8, end, 4))
            track.sample_count += count

    def _timescale_duration(self, start: int, end: int) -> tuple[int, int]:
        # mvhd and mdhd share this layout: version 1 widens the times to 64 bits.
        if self._payload(start, end, 1)[0] == 1:
            timescale, duration = struct.unpack(">IQ", self._payload(start + 20, end, 12))
        else:
            timescale, duration = struct.unpack(">II", self._payload(start + 12, end, 8))
        # All-ones duration means "unknown" (live or fragmented recordings).
        if duration in (0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF):
            duration = 0
        return timescale, duration
