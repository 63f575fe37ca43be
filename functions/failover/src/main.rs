//! Wiring only: the shared main (config, clients, runtime) for this function.

shared::lambda_main!(failover);
