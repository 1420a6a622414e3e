"""Batches on a Dask cluster: rows in chunks on every worker, one ledger, shared limits.

How the pieces fit (``pip install 'mediamix[cluster]'``; nothing here is imported by a
command that does not use a cluster, so the base install and ``mediamix --help`` never
load Dask)::

    client (mediamix batch --cluster ADDRESS)          scheduler
      client.py  submits chunks of rows ───────────────▶ coordinator.py (a SchedulerPlugin)
                 takes records + outcomes ◀────────────   per batch: rows, job claims,
                 writes them to ITS run log                account limits, budget, stop,
                                                           records waiting for the client
                                                            ▲
    every worker                                            │ one small RPC at a time,
      worker.py  a chunk → RowRunner on the worker's ──────┘ carrying whatever is pending
                 Engine (link.py: leased AccountPool,
                 shared Budget, cluster Claims, a sink that streams records)

- :mod:`~runner.cluster.address`: ``--cluster`` values (``local:N`` or a scheduler address).
- :mod:`~runner.cluster.state`: the coordinator's state as plain Python (no Dask), tested
  on its own: row and key claims, the records outbox, the budget.
- :mod:`~runner.cluster.limits`: rpm/rpd/tpm/max_concurrency of every account, cluster-wide,
  handed out as send slots in small leases.
- :mod:`~runner.cluster.coordinator`: that state behind scheduler handlers.
- :mod:`~runner.cluster.link` and :mod:`~runner.cluster.worker`: the worker side.
- :mod:`~runner.cluster.checks`: what the client refuses up front (storage workers cannot
  see, keys they lack, a different mediamix).
- :mod:`~runner.cluster.client`: the client side of a batch.
"""
