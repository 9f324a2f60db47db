"""Every model module, imported together (Alembic autogenerate, schema tests)."""


def import_all_models() -> None:
    import ruihe_saas.arrears.models  # noqa: F401
    import ruihe_saas.audit.models  # noqa: F401
    import ruihe_saas.auth.models  # noqa: F401
    import ruihe_saas.billing.models  # noqa: F401
    import ruihe_saas.estates.models  # noqa: F401
    import ruihe_saas.fees.models  # noqa: F401
    import ruihe_saas.handover.models  # noqa: F401
    import ruihe_saas.jobs.models  # noqa: F401
    import ruihe_saas.ledger.models  # noqa: F401
    import ruihe_saas.payments.models  # noqa: F401
    import ruihe_saas.tenancy.models  # noqa: F401
