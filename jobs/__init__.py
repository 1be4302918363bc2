"""RQ: the job entry points and the helpers that enqueue them (every job id and retry policy), the worker
process with its scheduler thread, and the reconciler that re-enqueues what Redis lost. Jobs take ids."""
