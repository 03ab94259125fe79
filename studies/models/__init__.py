"""Models of the studies app, one module per area."""

from .payments import BonusPayment, BonusStatus, PaymentPlatform

__all__ = ["BonusPayment", "BonusStatus", "PaymentPlatform"]
