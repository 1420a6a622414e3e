"""A long-lived job service over the engine: what ``mediamix serve`` runs on.

    JobService (jobs.py)   accepts generations and pipeline runs at once, runs them in the
                           background on one shared Engine, cancels them
    LiveBoard (board.py)   what the service's jobs are doing right now, fed by the very
                           records the engine writes to the run log; publishes each change
    Metrics (metrics.py)   counters and histograms of those records (Prometheus text)

The run log stays the history; the board answers for jobs in flight (and recently
finished ones) without a database read, and is the source of the live event stream.
"""
