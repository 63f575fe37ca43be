//! Probes of a peer region's public health endpoints, made by the region that observes
//! it (README, "Two paths"): the verdict is published in the observer's own region, so
//! the alarm on it is readable there while the peer, or us-east-1, is dark.

use std::fmt;

/// A health endpoint URL: `https://host[:port]/path` (or `http://` for a test endpoint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeUrl {
    pub https: bool,
    pub host: String,
    pub port: u16,
    pub path_and_query: String,
}

impl ProbeUrl {
    pub fn parse(url: &str) -> Result<Self, String> {
        let (https, rest) = if let Some(rest) = url.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err(format!("{url:?} is not an http(s):// URL"));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => {
                let port = port
                    .parse::<u16>()
                    .map_err(|_| format!("{url:?}: port {port:?} is not a number"))?;
                (host, port)
            }
            None => (authority, if https { 443 } else { 80 }),
        };
        let host_ok = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-.".contains(c));
        if !host_ok {
            return Err(format!("{url:?}: {host:?} is not a host name"));
        }
        Ok(Self {
            https,
            host: host.to_string(),
            port,
            path_and_query: path.to_string(),
        })
    }
}

impl fmt::Display for ProbeUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        write!(
            f,
            "{scheme}://{}:{}{}",
            self.host, self.port, self.path_and_query
        )
    }
}

/// One probe's answer: the HTTP status, or why there was none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeAnswer {
    Status(u16),
    NoAnswer(String),
}

impl ProbeAnswer {
    pub fn healthy(&self) -> bool {
        matches!(self, Self::Status(s) if (200..300).contains(s))
    }
}

/// A region is reachable when every one of its probes answered 2xx: the same all-of
/// rule as its gate, whose children are all its endpoints.
pub fn all_healthy(answers: &[(String, ProbeAnswer)]) -> bool {
    !answers.is_empty() && answers.iter().all(|(_, a)| a.healthy())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        /// (url, Some((https, host, port, path)) or None when refused)
        type Case = (
            &'static str,
            Option<(bool, &'static str, u16, &'static str)>,
        );
        let cases: &[Case] = &[
            (
                "https://orders-eu.example.com/health",
                Some((true, "orders-eu.example.com", 443, "/health")),
            ),
            (
                "http://127.0.0.1:4566/_localaws/service/a.example/health",
                Some((
                    false,
                    "127.0.0.1",
                    4566,
                    "/_localaws/service/a.example/health",
                )),
            ),
            (
                "https://orders.example.com",
                Some((true, "orders.example.com", 443, "/")),
            ),
            ("ftp://orders.example.com/health", None),
            ("https://:443/health", None),
            ("https://orders.example.com:http/health", None),
            ("https://user@orders.example.com/health", None),
        ];
        for (url, want) in cases {
            let got = ProbeUrl::parse(url).ok();
            let got = got
                .as_ref()
                .map(|u| (u.https, u.host.as_str(), u.port, u.path_and_query.as_str()));
            assert_eq!(got, *want, "{url}");
        }
    }

    #[test]
    fn a_region_is_reachable_only_when_every_probe_answers_2xx() {
        let ok = ("a".to_string(), ProbeAnswer::Status(200));
        let bad = ("b".to_string(), ProbeAnswer::Status(503));
        let gone = (
            "c".to_string(),
            ProbeAnswer::NoAnswer("timed out after 3s".into()),
        );
        assert!(all_healthy(std::slice::from_ref(&ok)));
        assert!(!all_healthy(&[ok.clone(), bad]));
        assert!(!all_healthy(&[ok, gone]));
        assert!(!all_healthy(&[]), "no probe is no evidence of health");
    }
}
