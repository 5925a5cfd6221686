"""Running sd-scripts: finding it, launching it, reading its log, keeping records, queueing runs."""
