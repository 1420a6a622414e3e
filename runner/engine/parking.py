"""Paid answers whose storage failed are parked, never thrown away.

When the outputs cannot be written (a full disk, a bucket refusing uploads), the answers a
job already paid for are moved to ``.mediamix/parked/<idempotency key>/`` (a rename from
scratch: it needs no free space) with a ``parked.json`` describing them. The next run with
the same key (``--resume``, or the same run again) stores them from there and makes no new
call; the run that parked them records the job as failed with error class ``storage``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

from runner.config.model import ModelSpec
from runner.engine.attempts import Produced
from runner.providers.base import Usage
from runner.validation import ArtifactFacts

_META = "parked.json"


class ParkingLot:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _slot(self, key: str) -> Path:
        return self.directory / key

    def park(self, key: str, outputs: list[Produced]) -> tuple[Path, int]:
        """Keep ``outputs`` under the key; returns the folder and how many could be kept
        (text needs a little disk space; files are renamed)."""
        slot = self._slot(key)
        slot.mkdir(parents=True, exist_ok=True)
        entries: list[dict[str, Any]] = []
        for number, output in enumerate(outputs, 1):
            name = f"{number}.{output.extension or 'bin'}"
            try:
                if output.path is not None:
                    shutil.move(str(output.path), slot / name)
                elif output.text is not None:
                    (slot / name).write_text(output.text, encoding="utf-8")
                else:
                    continue
            except OSError:
                continue
            entries.append(
                {
                    "file": name,
                    "text": output.path is None,
                    "provider": output.spec.provider,
                    "model": output.spec.model,
                    "account": output.account,
                    "extension": output.extension,
                    "facts": asdict(output.facts),
                    "attempt_id": output.attempt_id,
                }
            )
        if entries:
            temp = slot / f".{_META}.tmp"
            try:
                temp.write_text(json.dumps({"key": key, "outputs": entries}), encoding="utf-8")
                os.replace(temp, slot / _META)
            except OSError:
                temp.unlink(missing_ok=True)
                return slot, 0
        return slot, len(entries)

    def take(self, key: str) -> list[Produced] | None:
        """What is parked under ``key``, as outputs ready to store (cost already paid)."""
        meta_path = os.path.join(self.directory, key, _META)
        if not os.path.exists(meta_path):
            return None  # the usual case, asked once per job: one stat, no exception
        slot = self._slot(key)
        try:
            with open(meta_path, encoding="utf-8") as meta_file:
                meta = json.load(meta_file)
            produced = [self._produced(slot, entry) for entry in meta["outputs"]]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return produced or None

    def clear(self, key: str) -> None:
        with contextlib.suppress(OSError):
            shutil.rmtree(self._slot(key))

    @staticmethod
    def _produced(slot: Path, entry: dict[str, Any]) -> Produced:
        path = slot / str(entry["file"])
        text = path.read_text(encoding="utf-8") if entry["text"] else None
        return Produced(
            spec=ModelSpec(provider=str(entry["provider"]), model=str(entry["model"])),
            account=entry.get("account"),
            path=None if entry["text"] else path,
            facts=ArtifactFacts(**entry["facts"]),
            text=text,
            usage=Usage(),
            cost_usd=None,  # paid (and recorded) by the run that parked it
            latency_ms=0.0,
            attempt_id=str(entry.get("attempt_id") or ""),
            extension=str(entry["extension"]),
        )
