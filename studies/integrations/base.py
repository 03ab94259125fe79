"""What every platform client shares: its error type and money as the platforms write it.

The clients never import Django models: the studies app calls them from its services
and stores what they return. An error says whether the platform surely did nothing
(``acted=False``: it refused the request) or may have acted (``acted=None``: the request
went out and no answer came back), because a payment ledger must tell the two apart.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation


class PlatformError(Exception):
    """A platform refused a request, or its answer never arrived.

    ``acted`` is ``False`` when the platform answered with a refusal (nothing happened
    there, retrying is safe once the cause is fixed) and ``None`` when the outcome is
    unknown (a time-out, a lost connection, a server error): the request may have taken
    effect.
    """

    def __init__(self, message: str, *, acted: bool | None = False, code: str = "") -> None:
        super().__init__(message)
        self.acted = acted
        self.code = code

    @property
    def outcome_unknown(self) -> bool:
        return self.acted is None


def money(amount: Decimal | str | int | float, *, name: str = "amount") -> str:
    """``amount`` as the platforms take it: a positive number of dollars/pounds, two decimals.

    ``money("0.5") == "0.50"``. Floats are accepted through their text (``0.1`` stays 0.10).
    Raises ValueError for a value that is not a number, not positive, or has fractions of a cent.
    """
    try:
        value = Decimal(str(amount))
    except (InvalidOperation, ValueError):
        raise ValueError(f"{name}={amount!r} is not a number; write dollars like '0.50'.") from None
    if not value.is_finite() or value <= 0:
        raise ValueError(f"{name}={amount!r} must be a positive amount, like '0.50'.")
    cents = value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    if cents != value:
        raise ValueError(f"{name}={amount!r} has fractions of a cent; round it to two decimals.")
    return f"{cents:.2f}"
