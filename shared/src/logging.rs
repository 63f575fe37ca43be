//! One logging path: every line a function writes is one JSON object,
//! `{"level":…,"message":…,<span fields>,<event fields>}`, whatever
//! `AWS_LAMBDA_LOG_FORMAT` says, so CloudWatch Logs Insights can query every line.
//! The decision record is such a line (`"message":"decision"`, its fields at the top
//! level); [`run`] makes a failed invocation log one too, in place of the runtime's
//! text line in Rust debug form.

use lambda_runtime::tracing::subscriber::{
    self, filter::LevelFilter, fmt::MakeWriter, layer::Context, layer::SubscriberExt,
    registry::LookupSpan, util::SubscriberInitExt, Layer,
};
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent, Service};
use serde_json::Value;
use std::cell::Cell;
use std::fmt;
use std::io::Write;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};

/// Target of decision events; their `record` field (a JSON object) is spliced into the line.
const DECISION_TARGET: &str = "decision";
const RECORD_FIELD: &str = "record";

/// Where lambda_runtime logs a handler's `Err` as `error!("{error:?}")`.
const RUNTIME_ERROR_TARGET: &str = "lambda_runtime::layers::panic";

/// Set by [`run`], which logs handler errors itself: the runtime's line is then dropped.
static HANDLER_ERRORS_LOGGED: AtomicBool = AtomicBool::new(false);

tokio::task_local! {
    /// Whether the current invocation has logged its decision record.
    static DECIDED: Cell<bool>;
}

/// Installs the JSON-lines subscriber on stdout. The level comes from
/// `AWS_LAMBDA_LOG_LEVEL` (Lambda's application log level), then `RUST_LOG`, else INFO.
/// A level, not per-target directives: an `EnvFilter` would link a regex engine
/// into every function for a knob Lambda's own log-level setting already covers.
pub fn init() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|l| LevelFilter::from_str(&l).ok())
        .unwrap_or(LevelFilter::INFO);
    // A second call (tests) keeps the first subscriber.
    let _ = subscriber::registry()
        .with(level)
        .with(JsonLines::new(std::io::stdout))
        .try_init();
}

/// Logs a decision record (a JSON object) as one INFO line, `"message":"decision"`.
pub fn decision(record: &Value) {
    emit_decision(Level::INFO, record);
}

fn emit_decision(level: Level, record: &Value) {
    let _ = DECIDED.try_with(|d| d.set(true));
    if tracing::dispatcher::get_default(|d| d.is::<tracing::subscriber::NoSubscriber>()) {
        // No subscriber (unit tests, in-process benchmarks): the same line, directly.
        let mut line = Line::default();
        line.put("level", level.to_string().into());
        line.put("message", "decision".into());
        line.splice(record);
        // print!, not a raw write: the test harness captures it.
        print!("{}", String::from_utf8_lossy(&line.finish()));
        return;
    }
    let record = record.to_string();
    if level == Level::ERROR {
        tracing::error!(target: DECISION_TARGET, record = %record, "decision");
    } else {
        tracing::info!(target: DECISION_TARGET, record = %record, "decision");
    }
}

/// `lambda_runtime::run` for a control-plane function: the same runtime, and a handler
/// error is logged as one JSON line. An invocation that failed before logging its
/// decision (a refused event, an AWS error on the way) logs one here: outcome `refused`
/// for a rejected event, `failed` otherwise, with the `error_type` and `error_message`
/// Lambda gets. One that had logged its decision logs an `"invocation failed"` line.
/// The handler is a `service_fn`, always ready, so its `poll_ready` is not consulted.
pub async fn run<S>(function: &'static str, mut handler: S) -> Result<(), lambda_runtime::Error>
where
    S: Service<LambdaEvent<Value>, Response = Value>,
    S::Error: Into<Diagnostic>,
{
    HANDLER_ERRORS_LOGGED.store(true, Ordering::SeqCst);
    let region = std::env::var("AWS_REGION").unwrap_or_default();
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let record = crate::DecisionRecord::new(function, region.clone(), "unknown", "unknown");
        let answer = handler.call(event);
        DECIDED.scope(Cell::new(false), async move {
            let error: Diagnostic = match answer.await {
                Ok(value) => return Ok(value),
                Err(e) => e.into(),
            };
            if DECIDED.with(Cell::get) {
                tracing::error!(
                    error_type = %error.error_type,
                    error_message = %error.error_message,
                    "invocation failed"
                );
            } else {
                log_undecided(record, &error);
            }
            Err(error)
        })
    }))
    .await
}

fn log_undecided(mut record: crate::DecisionRecord, error: &Diagnostic) {
    // The prefix shared::Error::InvalidEvent displays with: an event refused before acting.
    let rejected = crate::Error::invalid_event("").to_string();
    let outcome = if error.error_message.starts_with(&rejected) {
        crate::Outcome::Refused
    } else {
        crate::Outcome::Failed
    };
    record.duration_ms = (chrono::Utc::now() - record.started_at)
        .num_milliseconds()
        .max(0) as u64;
    if outcome == crate::Outcome::Failed {
        record.errors.push(error.error_message.clone());
    }
    let mut json = record
        .outcome(outcome, error.error_message.clone())
        .to_json();
    json["error_type"] = error.error_type.clone().into();
    emit_decision(Level::ERROR, &json);
}

/// The layer writing one JSON object per event to `make_writer`.
struct JsonLines<W> {
    make_writer: W,
}

impl<W> JsonLines<W> {
    fn new(make_writer: W) -> Self {
        Self { make_writer }
    }
}

/// A span's fields (`requestId`, `xrayTraceId`, …), copied into each line inside it.
struct SpanFields(Vec<(String, Value)>);

impl<S, W> Layer<S> for JsonLines<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + 'static,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: Context<'_, S>,
    ) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanFields(fields.values));
        }
    }

    fn on_record(
        &self,
        id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        ctx: Context<'_, S>,
    ) {
        let mut fields = Fields::default();
        values.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            let mut extensions = span.extensions_mut();
            if let Some(SpanFields(existing)) = extensions.get_mut::<SpanFields>() {
                existing.extend(fields.values);
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        // The runtime's `error!("{error:?}")` for a handler's Err (its panic lines carry an
        // `error` field and stay): `run` has logged that error as JSON already.
        if meta.target() == RUNTIME_ERROR_TARGET
            && meta.fields().field("error").is_none()
            && HANDLER_ERRORS_LOGGED.load(Ordering::SeqCst)
        {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let mut line = Line::default();
        line.put("level", meta.level().to_string().into());
        line.put("message", fields.message.take().unwrap_or_default().into());
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(SpanFields(values)) = span.extensions().get::<SpanFields>() {
                    for (key, value) in values {
                        line.put(key, value.clone());
                    }
                }
            }
        }
        for (key, value) in fields.values {
            match value {
                Value::String(raw) if key == RECORD_FIELD && meta.target() == DECISION_TARGET => {
                    line.splice(&serde_json::from_str(&raw).unwrap_or(Value::String(raw)))
                }
                value => line.put(&key, value),
            }
        }
        let _ = self
            .make_writer
            .make_writer_for(meta)
            .write_all(&line.finish());
    }
}

/// A JSON object with its keys in insertion order (level and message first).
#[derive(Default)]
struct Line(Vec<(String, Value)>);

impl Line {
    fn put(&mut self, key: &str, value: Value) {
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key.to_string(), value)),
        }
    }

    /// An object's fields at the top level; anything else under `record`.
    fn splice(&mut self, value: &Value) {
        match value {
            Value::Object(map) => map.iter().for_each(|(k, v)| self.put(k, v.clone())),
            other => self.put(RECORD_FIELD, other.clone()),
        }
    }

    /// The line, keys in insertion order (serde_json's Map may sort them).
    fn finish(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        out.push(b'{');
        for (i, (key, value)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let _ = serde_json::to_writer(&mut out, key);
            out.push(b':');
            let _ = serde_json::to_writer(&mut out, value);
        }
        out.extend_from_slice(b"}\n");
        out
    }
}

/// Collects an event's or span's fields as JSON values; `message` apart.
#[derive(Default)]
struct Fields {
    message: Option<String>,
    values: Vec<(String, Value)>,
}

impl Fields {
    fn add(&mut self, field: &Field, value: Value) {
        if field.name() == "message" {
            self.message = Some(match value {
                Value::String(s) => s,
                other => other.to_string(),
            });
        } else {
            self.values.push((field.name().to_string(), value));
        }
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.add(field, value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.add(field, value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.add(field, value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.add(field, value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.add(field, value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.add(field, value.to_string().into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.add(field, format!("{value:?}").into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The lines `f` logs, each parsed (a line that is not a JSON object fails).
    fn lines(f: impl FnOnce()) -> Vec<Value> {
        let out = Capture::default();
        let writer = out.clone();
        let subscriber = subscriber::registry().with(JsonLines::new(move || writer.clone()));
        tracing::subscriber::with_default(subscriber, f);
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|l| match serde_json::from_str::<Value>(l) {
                Ok(v) if v.is_object() => v,
                _ => panic!("not a JSON object: {l}"),
            })
            .collect()
    }

    #[test]
    fn events_are_flat_json_with_the_span_fields() {
        let out = lines(|| {
            let span = tracing::info_span!("Lambda runtime invoke", requestId = "r-1");
            let _entered = span.enter();
            tracing::warn!(
                attempt = 2,
                ok = false,
                region = "eu-central-1",
                "retrying {}",
                "x"
            );
        });
        assert_eq!(out.len(), 1);
        let text = out[0].to_string();
        assert!(
            text.starts_with(r#"{"level":"WARN","message":"retrying x""#),
            "{text}"
        );
        assert_eq!(out[0]["requestId"], "r-1");
        assert_eq!(out[0]["attempt"], 2);
        assert_eq!(out[0]["ok"], false);
    }

    #[test]
    fn a_decision_is_one_line_with_its_fields_at_the_top() {
        let record = crate::DecisionRecord::new("failover", "eu-central-1", "status", "manual")
            .outcome(crate::Outcome::Noop, "2 of 2 regions active");
        let out = lines(|| decision(&record.to_json()));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0]["level"], "INFO");
        assert_eq!(out[0]["message"], "decision");
        assert_eq!(out[0]["function"], "failover");
        assert_eq!(out[0]["outcome"], "noop");
        assert!(out[0].get("record").is_none(), "{}", out[0]);
    }

    #[test]
    fn a_refused_event_is_one_decision_and_the_runtime_line_is_dropped() {
        HANDLER_ERRORS_LOGGED.store(true, Ordering::SeqCst);
        let record = crate::DecisionRecord::new("failover", "eu-central-1", "unknown", "unknown");
        let error: Diagnostic = crate::Error::invalid_event("expected a JSON object").into();
        let out = lines(|| {
            log_undecided(record, &error);
            // What lambda_runtime logs for the handler's Err.
            tracing::error!(target: RUNTIME_ERROR_TARGET, "{error:?}");
            // Its panic line stays.
            tracing::error!(target: RUNTIME_ERROR_TARGET, error = "boom", "user handler panicked");
        });
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(out[0]["level"], "ERROR");
        assert_eq!(out[0]["message"], "decision");
        assert_eq!(out[0]["outcome"], "refused");
        assert_eq!(out[0]["error_type"], "NonRetryable");
        assert_eq!(out[0]["reason"], "rejected event: expected a JSON object");
        assert_eq!(out[1]["message"], "user handler panicked");

        let aws: Diagnostic = crate::Error::State("no record".into()).into();
        let record = crate::DecisionRecord::new("failover", "eu-central-1", "unknown", "unknown");
        let out = lines(|| log_undecided(record, &aws));
        assert_eq!(out[0]["outcome"], "failed");
    }
}
