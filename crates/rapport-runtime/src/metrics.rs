//! What a service exports to Prometheus: each service declares its metrics once, in a catalogue
//! of [`Metric`]s (name, kind, HELP text, and for a histogram its buckets), and installs the
//! process-wide recorder with it before anything records. Then every metric renders with its
//! `# HELP` line, and every latency and size metric as a histogram with the buckets chosen for
//! it, which Prometheus can aggregate across replicas and `histogram_quantile` can read (without
//! buckets the exporter renders summaries, which can do neither).
//!
//! The code records through the catalogue's names ([`Metric::name`]), so a renamed metric is
//! renamed in one place, and the dashboards and alert rules are checked against the catalogues
//! and a scrape of the running services (`tests/observability.rs`).

use std::borrow::Cow;
use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

/// One exported metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub name: Cow<'static, str>,
    pub kind: Kind,
    /// The `# HELP` text: what is counted or measured, and in which unit.
    pub help: &'static str,
    /// The labels every series carries (empty: one series without labels).
    pub labels: &'static [&'static str],
}

/// What Prometheus sees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    Counter,
    Gauge,
    /// A histogram with these upper bounds (the exporter adds `+Inf`).
    Histogram(&'static [f64]),
}

impl Kind {
    /// The `# TYPE` word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram(_) => "histogram",
        }
    }
}

impl Metric {
    pub const fn counter(name: &'static str, help: &'static str) -> Self {
        Self {
            name: Cow::Borrowed(name),
            kind: Kind::Counter,
            help,
            labels: &[],
        }
    }

    pub const fn gauge(name: &'static str, help: &'static str) -> Self {
        Self {
            name: Cow::Borrowed(name),
            kind: Kind::Gauge,
            help,
            labels: &[],
        }
    }

    pub const fn histogram(
        name: &'static str,
        help: &'static str,
        buckets: &'static [f64],
    ) -> Self {
        Self {
            name: Cow::Borrowed(name),
            kind: Kind::Histogram(buckets),
            help,
            labels: &[],
        }
    }

    /// A metric whose name is made at run time (`rapport_<service>_consumer_lag`).
    pub fn named(name: String, kind: Kind, help: &'static str) -> Self {
        Self {
            name: Cow::Owned(name),
            kind,
            help,
            labels: &[],
        }
    }

    /// The same metric, its series told apart by `labels`.
    pub const fn by(mut self, labels: &'static [&'static str]) -> Self {
        self.labels = labels;
        self
    }
}

/// Bucket sets, each chosen for what it measures; every set spans the service level objective
/// of its measurement by a factor of ten or more on both sides, so a shift is visible in the
/// quantiles, not hidden in `+Inf`.
pub mod buckets {
    /// An HTTP answer served from memory or one store round trip: 1 ms to 30 s (the API's
    /// request limit is 10 s, its pages aim at 200 ms).
    pub const HTTP_SECONDS: &[f64] = &[
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    ];
    /// One record through a stage in memory (parse, normalize, encode): 50 µs to 1 s.
    pub const PROCESSING_SECONDS: &[f64] = &[
        0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
        1.0,
    ];
    /// A Kafka acknowledgement or a ClickHouse insert: 1 ms to 60 s (inserts are batched about
    /// once a second; a retried one waits for a recovering server).
    pub const STORE_SECONDS: &[f64] = &[
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    ];
    /// From the raw record's arrival to its row in the store: 100 ms to 1 h (a backlog after an
    /// outage drains over minutes).
    pub const END_TO_END_SECONDS: &[f64] = &[
        0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
    ];
    /// Rows in one insert: 1 to the writer's largest batch (`batch.max_rows`, 50 000).
    pub const BATCH_ROWS: &[f64] = &[
        1.0, 10.0, 50.0, 100.0, 500.0, 1000.0, 2500.0, 5000.0, 10_000.0, 25_000.0, 50_000.0,
    ];
    /// What every histogram without a catalogue entry gets, so it still renders as a histogram.
    pub const FALLBACK: &[f64] = STORE_SECONDS;
}

/// The metrics of `rapport-runtime`'s own HTTP listeners, part of every service's catalogue.
pub const HTTP_METRICS: &[Metric] = &[
    Metric::counter(
        "rapport_http_connections_refused_total",
        "Connections closed at once because the listener already served http.max_connections.",
    ),
    Metric::counter(
        "rapport_http_tls_handshake_failures_total",
        "TLS handshakes that failed on an HTTPS listener (a client that does not trust the certificate, or speaks plain HTTP).",
    ),
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide Prometheus recorder with `catalogue`'s buckets and HELP texts and
/// returns its handle. The first call wins: a later call (a test binary running two services)
/// adds its HELP texts but cannot change buckets, so a histogram it alone declares gets
/// [`buckets::FALLBACK`]. Upkeep (draining recorded samples into the buckets) runs every 5 s on
/// a thread of its own, so memory stays bounded when nobody scrapes.
pub fn install(catalogue: &[Metric]) -> PrometheusHandle {
    let handle = HANDLE
        .get_or_init(|| {
            let recorder = recorder(catalogue);
            let handle = recorder.handle();
            // Fails only when another recorder is already global (a test binary that installed
            // its own); the handle still renders what this recorder sees.
            let _ = metrics::set_global_recorder(recorder);
            let upkeep = handle.clone();
            let _ = std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(Duration::from_secs(5));
                        upkeep.run_upkeep();
                    }
                });
            handle
        })
        .clone();
    describe(catalogue);
    handle
}

/// A recorder with `catalogue`'s buckets, and [`buckets::FALLBACK`] for any other histogram.
fn recorder(catalogue: &[Metric]) -> PrometheusRecorder {
    let mut builder = PrometheusBuilder::new()
        .set_buckets(buckets::FALLBACK)
        .expect("non-empty buckets");
    for metric in catalogue.iter().chain(HTTP_METRICS) {
        if let Kind::Histogram(bounds) = metric.kind {
            builder = builder
                .set_buckets_for_metric(Matcher::Full(metric.name.to_string()), bounds)
                .expect("non-empty buckets");
        }
    }
    builder.build_recorder()
}

/// The installed recorder's handle; installs one without a catalogue when none is yet.
pub fn handle() -> PrometheusHandle {
    HANDLE.get().cloned().unwrap_or_else(|| install(&[]))
}

/// HELP texts for the current recorder; label-less counters start at 0.
fn describe(catalogue: &[Metric]) {
    for metric in catalogue.iter().chain(HTTP_METRICS) {
        let name = metric.name.to_string();
        match metric.kind {
            Kind::Counter => {
                metrics::describe_counter!(name.clone(), metric.help);
                // A counter without labels exists from the start at 0: `rate()` and
                // `increase()` then see its first increment, and an alert on it has a series.
                // (A labelled one cannot: its label values are not known before it counts.)
                if metric.labels.is_empty() {
                    metrics::counter!(name).absolute(0);
                }
            }
            Kind::Gauge => metrics::describe_gauge!(name, metric.help),
            Kind::Histogram(_) => metrics::describe_histogram!(name, metric.help),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CATALOGUE: &[Metric] = &[
        Metric::histogram(
            "rapport_test_wait_seconds",
            "How long the test waited, in seconds.",
            &[0.1, 1.0],
        ),
        Metric::counter("rapport_test_things_total", "Things the test counted."),
        Metric::counter("rapport_test_kinds_total", "Things by kind.").by(&["kind"]),
    ];

    #[test]
    fn catalogued_metrics_render_with_help_and_histograms_with_their_buckets() {
        // A local recorder: the global one belongs to whichever test of this binary came first.
        let recorder = recorder(CATALOGUE);
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            describe(CATALOGUE);
            metrics::histogram!("rapport_test_wait_seconds").record(0.5);
            metrics::histogram!("rapport_test_uncatalogued_seconds").record(0.5);
        });
        let text = handle.render();
        assert!(
            text.contains("# HELP rapport_test_wait_seconds How long the test waited, in seconds.")
        );
        assert!(
            text.contains("# TYPE rapport_test_wait_seconds histogram"),
            "{text}"
        );
        assert!(
            text.contains("rapport_test_wait_seconds_bucket{le=\"0.1\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("rapport_test_wait_seconds_bucket{le=\"1\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("rapport_test_wait_seconds_bucket{le=\"+Inf\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE rapport_test_uncatalogued_seconds histogram"),
            "a histogram outside the catalogue is still no summary: {text}"
        );
        assert!(text.contains("# HELP rapport_test_things_total Things the test counted."));
        assert!(
            text.contains("rapport_test_things_total 0"),
            "a label-less counter starts at 0: {text}"
        );
        assert!(
            !text.contains("rapport_test_kinds_total 0"),
            "a labelled counter gets no series without labels: {text}"
        );
    }

    #[test]
    fn every_bucket_set_is_strictly_increasing() {
        for set in [
            buckets::HTTP_SECONDS,
            buckets::PROCESSING_SECONDS,
            buckets::STORE_SECONDS,
            buckets::END_TO_END_SECONDS,
            buckets::BATCH_ROWS,
        ] {
            assert!(set.windows(2).all(|w| w[0] < w[1]), "{set:?}");
        }
    }
}
