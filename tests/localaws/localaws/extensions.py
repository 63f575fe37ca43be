"""Registers every addition with the dispatcher."""

from __future__ import annotations


def register_all(app) -> None:
    from localaws import (
        cloudwatch_cbor,
        cloudwatch_ext,
        ecr_replication,
        events_ext,
        lambda_invoke,
        lambda_urls,
        lambda_pc,
        limits,
        outage,
        route53_ext,
        route53_health,
        route53_metrics,
        scheduler_ext,
        secrets_ext,
        service_endpoints,
        sns_ext,
        timescale,
    )

    for module in (lambda_pc, lambda_invoke, lambda_urls, route53_ext, cloudwatch_cbor, cloudwatch_ext,
                   ecr_replication, secrets_ext, events_ext, sns_ext):
        module.register(app)
    route53_health.register(app)  # after route53_ext: puts its UpdateHealthCheck hook first
    outage.register(app)  # /regions/outage; the dispatcher consults outage.intercept
    service_endpoints.register(app)  # /service/<endpoint>/<path>: the service's own endpoints
    timescale.register(app)
    # after route53_ext/outage (wraps their health-changing admin routes) and route53_health
    # (its UpdateHealthCheck hook): publishes HealthCheckStatus before a health change
    route53_metrics.register(app)
    scheduler_ext.register(app)  # Scheduler fires schedules (timer thread, admin /scheduler)
    limits.register(app)  # after the others: puts its limit checks first
