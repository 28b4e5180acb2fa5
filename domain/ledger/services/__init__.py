"""The ledger's use cases (see ARCHITECTURE.md "The ledger" for the invariants they keep):

- ledger.py   the public verbs (grant, charge, hold, capture, ...), one screen each;
- book.py     the locked, idempotent, commit-once shape they share, and the `Book` they work on;
- sweeps.py   the periodic expiry of grants and release of holds;
- queries.py  balance, transactions, usage, the invariant audit;
- inputs.py   the input checks and limits (MAX_CREDITS, MAX_QUANTITY), defined once.
"""

from domain.ledger.services.inputs import MAX_CREDITS, MAX_KEY_LENGTH, MAX_QUANTITY, MAX_REFERENCE_LENGTH, scoped_key
from domain.ledger.services.ledger import Ledger
from domain.ledger.services.sweeps import SWEEP_BATCH

__all__ = [
    "MAX_CREDITS",
    "MAX_KEY_LENGTH",
    "MAX_QUANTITY",
    "MAX_REFERENCE_LENGTH",
    "SWEEP_BATCH",
    "Ledger",
    "scoped_key",
]
