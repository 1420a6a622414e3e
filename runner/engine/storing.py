"""A job's outputs into storage, in an order that keeps the ledger exact: bytes staged,
then the run log's records, then the files' final names (see :meth:`OutputStoring.store_all`).
"""

from __future__ import annotations

from dataclasses import replace

from runner.engine.attempts import Job, Produced
from runner.engine.outputs import ArtifactOutput
from runner.engine.services import Services
from runner.errors import StorageError
from runner.runlog.records import ArtifactRecord, JobRecord, new_id, utcnow
from runner.storage import Staged, render_key


class OutputStoring:
    """Stores the outputs of one pipeline run's jobs."""

    def __init__(self, services: Services, run_id: str, pipeline: str, started_on: str) -> None:
        self.sv = services
        self.run_id = run_id
        self.pipeline = pipeline
        #: The run's UTC date, as output templates' {date} spell it.
        self.started_on = started_on

    async def store_all(
        self, job: Job, outputs: list[Produced], succeeded: JobRecord
    ) -> list[ArtifactOutput]:
        """Store the job's outputs and write its artifact and "succeeded" records, in an
        order that keeps the ledger exact through a kill at any instant.

        On local storage: the bytes go to hidden names first, then the records, then the
        files take their final names. A kill before the records leaves no record and no
        visible file (the answer was in flight: a resume makes it again); a kill after
        them leaves recorded files that the next look (``ArtifactStore.exists``) finishes
        publishing, so a recorded success is never bought again, and neither is a stored
        file. A bucket has no rename: there the upload comes first and the records right
        after it.
        """
        sv = self.sv
        placed = [
            self._place(job, output, n if len(outputs) > 1 else None)
            for n, output in enumerate(outputs, 1)
        ]
        # With several outputs a failure part way must leave every paid answer where
        # parking can keep it: their files are copied in, not moved, and the ones staged
        # already are taken back.
        several = len(placed) > 1
        staged: list[Staged] = []
        try:
            try:
                for key, output, record, produced in placed:
                    staged.append(await self._stage(key, output, record, produced, several))
            except StorageError:
                for item in staged:
                    await sv.store.unstage(item)
                raise
            sv.sink.write_all([*(record for _, _, record, _ in placed), succeeded])
            try:
                for item in staged:
                    sv.store.publish(item)
            except StorageError:
                sv.sink.write(replace(succeeded, status="failed", error_class="storage"))
                raise
        finally:
            for item in staged:
                item.close()  # a folder publish or unstage did not take (an error between)
        if several and sv.store.is_local:
            for _, _, _, produced in placed:
                if produced.path is not None:
                    produced.path.unlink(missing_ok=True)  # copied in: the scratch file goes
        return [output for _, output, _, _ in placed]

    def _place(
        self, job: Job, produced: Produced, number: int | None
    ) -> tuple[str, ArtifactOutput, ArtifactRecord, Produced]:
        """Where an output goes, and its artifact record, before anything is written."""
        facts = produced.facts
        item_suffix = f"-{job.item_index + 1}" if job.item_index is not None else ""
        if number is not None:
            item_suffix += f"-{number}"
        key = render_key(
            job.plan.output_template,
            run_id=self.run_id,
            step_id=job.plan.id,
            item_suffix=item_suffix,
            item_index=job.item_index if job.item_index is not None else "",
            item_number=job.item_index + 1 if job.item_index is not None else "",
            ext=produced.extension or "bin",
            pipeline=self.pipeline,
            job_id=job.job_id,
            provider=produced.spec.provider,
            model=produced.spec.model,
            date=self.started_on,
        )
        where = self.sv.store.locate(key)
        record = ArtifactRecord(
            artifact_id=new_id(),
            job_id=job.job_id,
            run_id=self.run_id,
            uri=where.uri,
            media_type=job.plan.media_type,
            mime=facts.mime,
            size=facts.size,
            sha256=facts.sha256,
            created_at=utcnow(),
            public_url=where.public_url,
            width=facts.width,
            height=facts.height,
            duration_s=facts.duration_s,
            pages=facts.pages,
        )
        output = ArtifactOutput(
            media_type=job.plan.media_type,
            mime=facts.mime,
            uri=where.uri,
            path=where.local_file,
            public_url=where.public_url,
            size=facts.size,
            sha256=facts.sha256,
            provider=produced.spec.provider,
            model=produced.spec.model,
            text=produced.text,
            width=facts.width,
            height=facts.height,
            duration_s=facts.duration_s,
            pages=facts.pages,
            score=produced.score,
            score_reason=produced.verdict.reason if produced.verdict else None,
        )
        return key, output, record, produced

    async def _stage(
        self,
        key: str,
        output: ArtifactOutput,
        record: ArtifactRecord,
        produced: Produced,
        several: bool,
    ) -> Staged:
        sv = self.sv
        if produced.path is None:
            assert produced.text is not None, "an artifact without a file is text"
            data = produced.text.encode("utf-8")
            return await sv.store.stage(key, content_type=record.mime, data=data)
        staged = await sv.store.stage(
            key,
            content_type=record.mime,
            local_path=produced.path,
            move=not several and sv.store.is_local,
        )
        if not sv.store.is_local:
            output.path = str(produced.path)  # a bucket's object: its scratch copy stays
        return staged
