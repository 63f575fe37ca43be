//! The library every control-plane function uses: configuration, event
//! recognition, errors, decision records, metrics, the routing-state model and
//! thin AWS adapters.

pub mod aws;
pub mod config;
mod config_reader;
pub mod decision;
pub mod duration;
pub mod error;
pub mod events;
pub mod logging;
pub mod metrics;
pub mod region;
pub mod routing;
pub mod schedule;

pub use config::Config;
pub use decision::{Change, DecisionRecord, Outcome};
pub use duration::Duration;
pub use error::{Error, Result};
pub use events::Event;
pub use region::{AccountId, AlarmArn, Arn, Region};
