"""Background work on RQ: conversation turns, sends and the reconciler. Jobs take ids and are idempotent."""
