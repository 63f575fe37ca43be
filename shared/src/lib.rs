//! The library every control-plane function uses: configuration, event
//! recognition, the manual actions, errors, decision records, metrics and the
//! routing-state model; with the `aws` feature (default) also the thin AWS
//! adapters and the Lambda runtime glue. Without it this is the SDK-free core
//! that ctl reads the functions' answers with.

#[cfg(feature = "aws")]
pub mod aws;
pub mod config;
mod config_reader;
pub mod decision;
pub mod duration;
pub mod error;
pub mod events;
mod invocation;
pub mod local;
#[cfg(feature = "aws")]
pub mod logging;
pub mod manual;
pub mod metrics;
pub mod operator;
pub mod probe;
pub mod region;
pub mod routing;
#[cfg(feature = "aws")]
pub mod runtime;
pub mod schedule;

pub use config::Config;
pub use decision::{Change, DecisionRecord, Outcome};
pub use duration::Duration;
pub use error::{Error, Result};
pub use events::Event;
pub use invocation::Invocation;
pub use manual::{Action, ManualAction};
pub use region::{AccountId, AlarmArn, Arn, Region};
