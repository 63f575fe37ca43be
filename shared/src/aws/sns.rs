//! SNS adapter: operator notifications (alerts) for every function.

use crate::aws::map_err;
use crate::error::Result;
use std::future::Future;

/// SNS limits (Publish API reference, "Subject"): a subject of printable ASCII,
/// no line breaks or control characters, and "less than 100 characters"; a message
/// of at most 256 KiB.
pub const MAX_SUBJECT: usize = 99;
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// Sends a human-readable notification.
pub trait Notifier: Send + Sync {
    fn notify(&self, subject: &str, message: &str) -> impl Future<Output = Result<()>> + Send;
}

#[derive(Clone, Debug)]
pub struct Sns {
    client: aws_sdk_sns::Client,
    region: String,
    topic_arn: String,
}

impl Sns {
    /// Publishes to `topic_arn` (the topic must be in `config`'s region).
    pub fn new(config: &aws_config::SdkConfig, topic_arn: impl Into<String>) -> Self {
        Self::from_client(
            aws_sdk_sns::Client::new(config),
            config.region().map(|r| r.to_string()).unwrap_or_default(),
            topic_arn,
        )
    }

    pub fn from_client(
        client: aws_sdk_sns::Client,
        region: impl Into<String>,
        topic_arn: impl Into<String>,
    ) -> Self {
        Self {
            client,
            region: region.into(),
            topic_arn: topic_arn.into(),
        }
    }

    pub fn topic_arn(&self) -> &str {
        &self.topic_arn
    }
}

/// Makes a subject SNS accepts: printable ASCII, one line, at most 100 characters.
pub fn clean_subject(subject: &str) -> String {
    let mut out: String = subject
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c
            } else if c.is_whitespace() {
                ' '
            } else {
                '?'
            }
        })
        .collect();
    if out.len() > MAX_SUBJECT {
        out.truncate(MAX_SUBJECT - 3);
        out.push_str("...");
    }
    if out.trim().is_empty() {
        "(no subject)".to_string()
    } else {
        out
    }
}

/// Cuts a message to SNS's size limit on a character boundary.
pub fn clean_message(message: &str) -> &str {
    if message.len() <= MAX_MESSAGE_BYTES {
        return message;
    }
    let mut end = MAX_MESSAGE_BYTES;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    &message[..end]
}

impl Notifier for Sns {
    async fn notify(&self, subject: &str, message: &str) -> Result<()> {
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(clean_subject(subject))
            .message(clean_message(message))
            .send()
            .await
            .map_err(|e| map_err("sns", "Publish", &self.region, e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_made_acceptable() {
        assert_eq!(clean_subject("ok"), "ok");
        assert_eq!(clean_subject("a\nb"), "a b");
        assert_eq!(clean_subject("lag → high"), "lag ? high");
        assert_eq!(clean_subject(&"x".repeat(150)).len(), 99);
        assert_eq!(clean_subject(&"x".repeat(99)), "x".repeat(99));
        assert_eq!(clean_subject("  "), "(no subject)");
    }

    #[test]
    fn messages_are_cut_on_a_char_boundary() {
        let long = "é".repeat(MAX_MESSAGE_BYTES);
        let cut = clean_message(&long);
        assert!(cut.len() <= MAX_MESSAGE_BYTES);
        assert_eq!(clean_message("short"), "short");
    }
}
