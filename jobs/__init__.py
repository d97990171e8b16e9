"""RQ job functions: each adapts one `ml` step to the queue (progress to job.meta and the DB, cancel, errors).

The web process enqueues them by dotted path ("jobs.train.run") and never imports this package.
"""
