//! The local AWS world is as strict as AWS: each module shows one row of
//! `tests/localaws/README.md` ("As strict as AWS") through the product's own SDK
//! clients and adapters, and fails if the world stops enforcing it.

mod alarms;
mod health;
mod limits;
mod outage;
mod quotas;
mod schedules;
