//! Business-time arithmetic on a warm table: `business_ms` and `add_business` over typical
//! intervals (minutes to weeks) in 2024-2025, on an office calendar with a lunch break,
//! holidays, a night shift on Sundays and a version change.

use criterion::{BenchmarkId, Criterion, Throughput, black_box, criterion_group, criterion_main};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rapport_calendar::{Calendar, CalendarConfig};

const OFFICE: &str = r#"
[[versions]]
zone = "Europe/Berlin"
holidays = [{ yearly = "12-24", closed = "13:00-24:00" }, { yearly = "12-25" }, { yearly = "12-26" },
            { yearly = "01-01" }, { date = "2024-05-09" }, { date = "2025-05-29" }]
[versions.week]
mon = ["09:00-12:30", "13:30-18:00"]
tue = ["09:00-12:30", "13:30-18:00"]
wed = ["09:00-12:30", "13:30-18:00"]
thu = ["09:00-12:30", "13:30-18:00"]
fri = ["09:00-12:30", "13:30-16:00"]
sun = ["22:00-06:00"]

[[versions]]
effective_from = "2024-09-01"
zone = "Europe/Berlin"
holidays = [{ yearly = "12-24", closed = "13:00-24:00" }, { yearly = "12-25" }, { yearly = "12-26" },
            { yearly = "01-01" }, { date = "2025-05-29" }]
[versions.week]
mon = ["08:00-12:30", "13:30-18:00"]
tue = ["08:00-12:30", "13:30-18:00"]
wed = ["08:00-12:30", "13:30-18:00"]
thu = ["08:00-12:30", "13:30-18:00"]
fri = ["08:00-12:30", "13:30-18:00"]
sun = ["22:00-06:00"]
"#;

const BATCH: usize = 4096;
const START_2024: i64 = 1_704_067_200_000;
const YEAR_MS: i64 = 365 * 86_400_000;
const MINUTE: i64 = 60_000;

fn office() -> Calendar {
    let config: CalendarConfig = toml::from_str(OFFICE).expect("bench calendar parses");
    Calendar::from_config("office", &config).expect("bench calendar is valid")
}

/// Interval lengths from a minute to three weeks, log-uniform so that short and long ones
/// weigh alike.
fn intervals(rng: &mut ChaCha8Rng) -> Vec<(i64, i64)> {
    (0..BATCH)
        .map(|_| {
            let from = START_2024 + rng.random_range(0..2 * YEAR_MS);
            let length =
                (rng.random_range(0.0..(21.0f64 * 24.0 * 60.0).ln()).exp() * MINUTE as f64) as i64;
            (from, from + length)
        })
        .collect()
}

fn arithmetic(c: &mut Criterion) {
    let calendar = office();
    let mut rng = ChaCha8Rng::seed_from_u64(23);
    let pairs = intervals(&mut rng);
    let amounts: Vec<(i64, i64)> = pairs
        .iter()
        .map(|&(from, to)| (from, (to - from) / 4 + 1))
        .collect();
    // Warm the table: the benchmark measures queries, not the one-off build.
    let warm: i64 = pairs.iter().map(|&(a, b)| calendar.business_ms(a, b)).sum();
    assert!(warm > 0);

    let mut group = c.benchmark_group("calendar");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function(BenchmarkId::new("business_ms", "1min-3weeks"), |b| {
        b.iter(|| {
            let mut sum = 0i64;
            for &(from, to) in &pairs {
                sum = sum.wrapping_add(calendar.business_ms(black_box(from), black_box(to)));
            }
            sum
        })
    });
    group.bench_function(BenchmarkId::new("add_business", "1min-5days"), |b| {
        b.iter(|| {
            let mut sum = 0i64;
            for &(from, amount) in &amounts {
                let due = calendar.add_business(black_box(from), black_box(amount));
                sum = sum.wrapping_add(due.unwrap_or(0));
            }
            sum
        })
    });
    group.bench_function(BenchmarkId::new("is_open", "random"), |b| {
        b.iter(|| {
            pairs
                .iter()
                .filter(|&&(from, _)| calendar.is_open(black_box(from)))
                .count()
        })
    });
    group.bench_function(BenchmarkId::new("next_change", "random"), |b| {
        b.iter(|| {
            let mut sum = 0i64;
            for &(from, _) in &pairs {
                sum = sum.wrapping_add(calendar.next_change(black_box(from)).unwrap_or(0));
            }
            sum
        })
    });
    group.finish();

    // The one-off cost a cold calendar pays: building the chunks two years of queries touch.
    let mut cold = c.benchmark_group("calendar_cold");
    cold.throughput(Throughput::Elements(1));
    cold.bench_function("build_two_years", |b| {
        b.iter(|| {
            let calendar = office();
            calendar.business_ms(black_box(START_2024), black_box(START_2024 + 2 * YEAR_MS))
        })
    });
    cold.finish();
}

criterion_group!(benches, arithmetic);
criterion_main!(benches);
