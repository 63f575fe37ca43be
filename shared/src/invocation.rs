//! What the Lambda context tells a function about one invocation.

use chrono::{DateTime, Utc};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Invocation {
    pub request_id: String,
    /// The ARN it was invoked by (a drill's end schedule targets it).
    pub function_arn: String,
    /// When Lambda stops this run (its timeout), if known: work that waits (a drill's
    /// surge) waits only while there is time left.
    pub deadline: Option<DateTime<Utc>>,
}
