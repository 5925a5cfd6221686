"""Keeping records of runs: the record folder (record.py), the ledger of saved states
(ledger.py), a run's history with its checkpoints and losses (history.py) and its plots
(plot.py); A-LOSS is kohyawiz.loss. `kohyawiz.run.records` still names what record.py holds."""

from kohyawiz.run.records.record import *  # noqa: F403  (the old module's names, for the session)
