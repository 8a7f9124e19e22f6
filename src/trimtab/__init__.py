"""trimtab: self-hosted release safety — ordered deploys, rollback, feature toggles,
stabilization windows and Sentry-compatible error reports in one process."""

__version__ = "0.1.0"
__all__ = ["__version__"]
