"""Registers every addition with the dispatcher."""

from __future__ import annotations


def register_all(app) -> None:
    from localaws import (
        cloudwatch_cbor,
        cloudwatch_ext,
        ecr_replication,
        events_ext,
        lambda_invoke,
        lambda_pc,
        route53_ext,
        secrets_ext,
        sns_ext,
    )

    for module in (lambda_pc, lambda_invoke, route53_ext, cloudwatch_cbor, cloudwatch_ext,
                   ecr_replication, secrets_ext, events_ext, sns_ext):
        module.register(app)
