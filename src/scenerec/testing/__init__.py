"""Contract suites and tiny oracle datasets that every model must pass (see ``contract``)."""

from __future__ import annotations

from scenerec.testing.contract import (
    CHECKS,
    CheckResult,
    ContractError,
    ContractReport,
    Factory,
    check_model,
)
from scenerec.testing.oracle import Oracle, OracleConfig, item_id, make_oracle

__all__ = [
    "CHECKS",
    "CheckResult",
    "ContractError",
    "ContractReport",
    "Factory",
    "Oracle",
    "OracleConfig",
    "check_model",
    "item_id",
    "make_oracle",
]
