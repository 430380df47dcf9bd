//! Responsiveness over a period: count, average, p50 and p90 of first response time and reply
//! latency (by when the reply happened) and of first and full resolution time (by when the first
//! or last resolution happened), overall or per channel, team, agent or UTC day.
//!
//! On the wall clock or in business time ([`Clock`]). Reads `replies` and `resolutions`, whose sorting keys start with (tenant, day): a week's report
//! reads that week. Percentiles are `quantileExact` (an observed value), averages rounded half up.

use std::collections::BTreeMap;

use clickhouse::Row;
use serde::{Deserialize, Serialize};

use super::{ReadResult, Sql};

/// What the groups are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Channel,
    Team,
    Agent,
    Day,
}

impl GroupBy {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "channel" => Some(Self::Channel),
            "team" => Some(Self::Team),
            "agent" => Some(Self::Agent),
            "day" => Some(Self::Day),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Channel => "channel",
            Self::Team => "team",
            Self::Agent => "agent",
            Self::Day => "day",
        }
    }
}

/// Which clock durations are measured on (`docs/ANALYTICS.md`, "Business time").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Clock {
    /// Wall-clock time.
    #[default]
    Wall,
    /// Open time of each conversation's business-hours calendar. Rows stored before business
    /// time existed (migration 007) have none until `rapport recompute`, and are left out.
    Business,
}

impl Clock {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "wall" => Some(Self::Wall),
            "business" => Some(Self::Business),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Wall => "wall",
            Self::Business => "business",
        }
    }
}

/// The period and the grouping.
#[derive(Debug, Clone)]
pub struct ReportQuery<'a> {
    pub tenant_id: &'a str,
    /// Epoch ms, `from` inclusive, `to` exclusive.
    pub from: i64,
    pub to: i64,
    pub channel: Option<&'a str>,
    pub group_by: Option<GroupBy>,
    pub clock: Clock,
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub count: u64,
    pub avg_ms: Option<i64>,
    pub p50_ms: Option<i64>,
    pub p90_ms: Option<i64>,
}

/// One group of a report; its JSON form is the API's and `rapport report --json`'s.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Group {
    /// The channel, team, agent id or day (`YYYY-MM-DD`); `None` for the overall group, a
    /// conversation without a team, or a reply without an agent id.
    pub key: Option<String>,
    /// With `GroupBy::Agent`: the agent's name as the replies carry it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_name: Option<String>,
    pub first_response: Stats,
    pub reply_latency: Stats,
    /// `None` with `GroupBy::Agent`: a resolution is not attributed to an agent.
    pub first_resolution: Option<Stats>,
    pub full_resolution: Option<Stats>,
}

#[derive(Debug, Deserialize, Row)]
struct ReplyRow {
    key: Option<String>,
    agent_name: Option<String>,
    frt_count: u64,
    frt_avg: Option<i64>,
    frt_p50: Option<i64>,
    frt_p90: Option<i64>,
    reply_count: u64,
    reply_avg: Option<i64>,
    reply_p50: Option<i64>,
    reply_p90: Option<i64>,
}

#[derive(Debug, Deserialize, Row)]
struct ResolutionRow {
    key: Option<String>,
    count: u64,
    avg_ms: Option<i64>,
    p50_ms: Option<i64>,
    p90_ms: Option<i64>,
}

impl Group {
    fn add_replies(&mut self, row: ReplyRow) {
        self.agent_name = row.agent_name;
        self.first_response = Stats {
            count: row.frt_count,
            avg_ms: row.frt_avg,
            p50_ms: row.frt_p50,
            p90_ms: row.frt_p90,
        };
        self.reply_latency = Stats {
            count: row.reply_count,
            avg_ms: row.reply_avg,
            p50_ms: row.reply_p50,
            p90_ms: row.reply_p90,
        };
    }

    fn add_resolutions(&mut self, row: ResolutionRow, first_kind: bool) {
        let stats = Some(Stats {
            count: row.count,
            avg_ms: row.avg_ms,
            p50_ms: row.p50_ms,
            p90_ms: row.p90_ms,
        });
        if first_kind {
            self.first_resolution = stats;
        } else {
            self.full_resolution = stats;
        }
    }
}

const NO_KEY: &str = "CAST(NULL, 'Nullable(String)')";

/// `toDate` of an epoch-ms bound, as SQL, for the day range of the sorting key.
fn day(ms: i64) -> String {
    format!("toDate(toDateTime(intDiv({ms}, 1000), 'UTC'), 'UTC')")
}

fn replies_sql(q: &ReportQuery<'_>) -> Sql {
    replies_sql_in(q, None)
}

/// [`replies_sql`], with the rows also grouped by `bucket` of the reply day when given.
fn replies_sql_in(q: &ReportQuery<'_>, bucket: Option<Bucket>) -> Sql {
    let key = match q.group_by {
        None => NO_KEY,
        Some(GroupBy::Channel) => "toNullable(channel)",
        Some(GroupBy::Team) => "team",
        Some(GroupBy::Agent) => "agent_id",
        Some(GroupBy::Day) => "toNullable(toString(reply_day))",
    };
    let latency = match q.clock {
        Clock::Wall => "reply_latency_ms",
        Clock::Business => "reply_latency_business_ms",
    };
    let name = if q.group_by == Some(GroupBy::Agent) {
        "any(agent_name)"
    } else {
        NO_KEY
    };
    let bucket_column = bucket.map_or(String::new(), |b| {
        format!("toString({}) AS bucket, ", b.of("reply_day"))
    });
    let mut sql = Sql::new(&format!(
        "SELECT {bucket_column}{key} AS key, {name} AS agent_name, \
         toUInt64(countIf(is_first_response = 1)) AS frt_count, \
         if(frt_count > 0, toInt64(floor(avgIf(reply_latency_ms, is_first_response = 1) + 0.5)), NULL) AS frt_avg, \
         if(frt_count > 0, toInt64(quantileExactIf(0.5)(reply_latency_ms, is_first_response = 1)), NULL) AS frt_p50, \
         if(frt_count > 0, toInt64(quantileExactIf(0.9)(reply_latency_ms, is_first_response = 1)), NULL) AS frt_p90, \
         toUInt64(count()) AS reply_count, \
         if(reply_count > 0, toInt64(floor(avg(reply_latency_ms) + 0.5)), NULL) AS reply_avg, \
         if(reply_count > 0, toInt64(quantileExact(0.5)(reply_latency_ms)), NULL) AS reply_p50, \
         if(reply_count > 0, toInt64(quantileExact(0.9)(reply_latency_ms)), NULL) AS reply_p90 \
         FROM (SELECT reply_day, channel, team, agent_id, agent_name, replied_at_ms, \
               assumeNotNull({latency}) AS reply_latency_ms, isNotNull({latency}) AS known, \
               is_first_response, has_latency \
               FROM replies FINAL PREWHERE tenant_id = ? AND reply_day >= {} AND reply_day <= {}) \
         WHERE has_latency = 1 AND known = 1 AND replied_at_ms >= ? AND replied_at_ms < ?",
        day(q.from),
        day(q.to)
    ));
    sql.text(q.tenant_id).int(q.from).int(q.to);
    if let Some(channel) = q.channel {
        sql.push(" AND channel = ?").text(channel);
    }
    sql.push(if bucket.is_some() {
        " GROUP BY bucket, key"
    } else {
        " GROUP BY key"
    });
    sql
}

#[derive(Debug, Clone, Copy)]
enum Resolution {
    First,
    Full,
}

fn resolution_sql(q: &ReportQuery<'_>, kind: Resolution) -> Sql {
    resolution_sql_in(q, kind, None)
}

fn resolution_sql_in(q: &ReportQuery<'_>, kind: Resolution, bucket: Option<Bucket>) -> Sql {
    let (duration, flag) = match (kind, q.clock) {
        (Resolution::First, Clock::Wall) => ("first_resolution_ms", "is_first"),
        (Resolution::Full, Clock::Wall) => ("full_resolution_ms", "is_full"),
        (Resolution::First, Clock::Business) => ("first_resolution_business_ms", "is_first"),
        (Resolution::Full, Clock::Business) => ("full_resolution_business_ms", "is_full"),
    };
    let key = match q.group_by {
        None | Some(GroupBy::Agent) => NO_KEY,
        Some(GroupBy::Channel) => "toNullable(channel)",
        Some(GroupBy::Team) => "team",
        Some(GroupBy::Day) => "toNullable(toString(resolved_day))",
    };
    let bucket_column = bucket.map_or(String::new(), |b| {
        format!("toString({}) AS bucket, ", b.of("resolved_day"))
    });
    let mut sql = Sql::new(&format!(
        "SELECT {bucket_column}{key} AS key, toUInt64(count()) AS count, \
         toNullable(toInt64(floor(avg(duration) + 0.5))) AS avg_ms, \
         toNullable(toInt64(quantileExact(0.5)(duration))) AS p50_ms, \
         toNullable(toInt64(quantileExact(0.9)(duration))) AS p90_ms \
         FROM (SELECT resolved_day, channel, team, resolved_at_ms, {flag} AS flag, \
               assumeNotNull({duration}) AS duration, isNotNull({duration}) AS known \
               FROM resolutions FINAL PREWHERE tenant_id = ? AND resolved_day >= {} AND resolved_day <= {}) \
         WHERE flag = 1 AND known = 1 AND resolved_at_ms >= ? AND resolved_at_ms < ?",
        day(q.from),
        day(q.to)
    ));
    sql.text(q.tenant_id).int(q.from).int(q.to);
    if let Some(channel) = q.channel {
        sql.push(" AND channel = ?").text(channel);
    }
    sql.push(if bucket.is_some() {
        " GROUP BY bucket, key"
    } else {
        " GROUP BY key"
    });
    sql
}

/// The report: named groups in key order, the `None` group last; without grouping, exactly one
/// (overall) group, with zero counts when nothing happened.
pub async fn report(client: &clickhouse::Client, q: &ReportQuery<'_>) -> ReadResult<Vec<Group>> {
    let resolved = q.group_by != Some(GroupBy::Agent);
    let replies = replies_sql(q).query(client).fetch_all::<ReplyRow>();
    let resolutions = async {
        if !resolved {
            return Ok((Vec::new(), Vec::new()));
        }
        tokio::try_join!(
            resolution_sql(q, Resolution::First)
                .query(client)
                .fetch_all::<ResolutionRow>(),
            resolution_sql(q, Resolution::Full)
                .query(client)
                .fetch_all::<ResolutionRow>(),
        )
    };
    let (replies, (first, full)) = tokio::try_join!(replies, resolutions)?;

    let mut groups: BTreeMap<(bool, Option<String>), Group> = BTreeMap::new();
    fn entry(
        groups: &mut BTreeMap<(bool, Option<String>), Group>,
        key: Option<String>,
        resolved: bool,
    ) -> &mut Group {
        groups
            .entry((key.is_none(), key.clone()))
            .or_insert_with(|| Group {
                key,
                first_resolution: resolved.then(Stats::default),
                full_resolution: resolved.then(Stats::default),
                ..Group::default()
            })
    }
    // Grouping by a constant (no group_by) yields one row even when nothing matched.
    for row in replies.into_iter().filter(|r| r.reply_count > 0) {
        entry(&mut groups, row.key.clone(), resolved).add_replies(row);
    }
    for (rows, first_kind) in [(first, true), (full, false)] {
        for row in rows.into_iter().filter(|r| r.count > 0) {
            entry(&mut groups, row.key.clone(), resolved).add_resolutions(row, first_kind);
        }
    }
    if q.group_by.is_none() {
        entry(&mut groups, None, resolved);
    }
    Ok(groups.into_values().collect())
}

/// The time step of a [`series`]: UTC days, or weeks starting on Monday.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    Day,
    Week,
}

impl Bucket {
    /// Days for a period of up to 62 days, weeks beyond: a line has at most about 60 points.
    pub fn for_span(from: i64, to: i64) -> Self {
        if to.saturating_sub(from) <= 62 * 86_400_000 {
            Self::Day
        } else {
            Self::Week
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Week => "week",
        }
    }

    /// The bucket of a `Date` column, as SQL.
    fn of(self, day_column: &str) -> String {
        match self {
            Self::Day => day_column.to_owned(),
            Self::Week => format!("toMonday({day_column})"),
        }
    }
}

/// One group's numbers in one bucket of a [`series`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesPoint {
    /// The bucket's first day, `YYYY-MM-DD`.
    pub bucket: String,
    pub group: Group,
}

// RowBinary is read field after field, so a bucket column followed by a report row's columns
// reads as the bucket and the nested row.
#[derive(Debug, Deserialize, Row)]
struct BucketReplyRow {
    bucket: String,
    row: ReplyRow,
}

#[derive(Debug, Deserialize, Row)]
struct BucketResolutionRow {
    bucket: String,
    row: ResolutionRow,
}

/// The report of every `bucket` of the period, each with the same groups as [`report`] would
/// give for that bucket alone (replies by the reply's day, resolutions by the resolution's):
/// points in bucket order, then key order with the `None` key last; only buckets and groups
/// with at least one reply or resolution. Reads the same rows as [`report`], once.
pub async fn series(
    client: &clickhouse::Client,
    q: &ReportQuery<'_>,
    bucket: Bucket,
) -> ReadResult<Vec<SeriesPoint>> {
    let resolved = q.group_by != Some(GroupBy::Agent);
    let replies = replies_sql_in(q, Some(bucket))
        .query(client)
        .fetch_all::<BucketReplyRow>();
    let resolutions = async {
        if !resolved {
            return Ok((Vec::new(), Vec::new()));
        }
        tokio::try_join!(
            resolution_sql_in(q, Resolution::First, Some(bucket))
                .query(client)
                .fetch_all::<BucketResolutionRow>(),
            resolution_sql_in(q, Resolution::Full, Some(bucket))
                .query(client)
                .fetch_all::<BucketResolutionRow>(),
        )
    };
    let (replies, (first, full)) = tokio::try_join!(replies, resolutions)?;

    let mut points = Slots::new();
    for BucketReplyRow { bucket, row } in replies.into_iter().filter(|r| r.row.reply_count > 0) {
        slot(&mut points, bucket, row.key.clone(), resolved).add_replies(row);
    }
    for (rows, first_kind) in [(first, true), (full, false)] {
        for BucketResolutionRow { bucket, row } in rows.into_iter().filter(|r| r.row.count > 0) {
            slot(&mut points, bucket, row.key.clone(), resolved).add_resolutions(row, first_kind);
        }
    }
    Ok(points
        .into_iter()
        .map(|((bucket, _), group)| SeriesPoint { bucket, group })
        .collect())
}

type Slots = BTreeMap<(String, (bool, Option<String>)), Group>;

fn slot(points: &mut Slots, bucket: String, key: Option<String>, resolved: bool) -> &mut Group {
    points
        .entry((bucket, (key.is_none(), key.clone())))
        .or_insert_with(|| Group {
            key,
            first_resolution: resolved.then(Stats::default),
            full_resolution: resolved.then(Stats::default),
            ..Group::default()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_by_accepts_exactly_the_documented_values() {
        for name in ["channel", "team", "agent", "day"] {
            assert_eq!(GroupBy::parse(name).unwrap().as_str(), name);
        }
        assert!(GroupBy::parse("week").is_none());
    }

    #[test]
    fn series_group_by_bucket_and_key_and_pick_days_or_weeks_by_span() {
        let q = ReportQuery {
            tenant_id: "acme",
            from: 0,
            to: 7 * 86_400_000,
            channel: None,
            group_by: Some(GroupBy::Channel),
            clock: Clock::Wall,
        };
        let weekly = replies_sql_in(&q, Some(Bucket::Week));
        assert!(
            weekly
                .as_str()
                .starts_with("SELECT toString(toMonday(reply_day)) AS bucket, ")
        );
        assert!(weekly.as_str().ends_with(" GROUP BY bucket, key"));
        let daily = resolution_sql_in(&q, Resolution::First, Some(Bucket::Day));
        assert!(
            daily
                .as_str()
                .starts_with("SELECT toString(resolved_day) AS bucket, ")
        );
        assert_eq!(replies_sql(&q).as_str().matches("bucket").count(), 0);
        assert_eq!(Bucket::for_span(0, 62 * 86_400_000), Bucket::Day);
        assert_eq!(Bucket::for_span(0, 63 * 86_400_000), Bucket::Week);
    }

    #[test]
    fn reports_read_the_day_range_of_the_stored_tables() {
        let q = ReportQuery {
            tenant_id: "acme",
            from: 0,
            to: 86_400_000,
            channel: Some("chat"),
            group_by: Some(GroupBy::Team),
            clock: Clock::Business,
        };
        let replies = replies_sql(&q);
        assert!(
            replies
                .as_str()
                .contains("FROM replies FINAL PREWHERE tenant_id = ? AND reply_day >=")
        );
        assert!(
            replies
                .as_str()
                .contains("assumeNotNull(reply_latency_business_ms)")
        );
        let resolutions = resolution_sql(&q, Resolution::Full);
        assert!(
            resolutions
                .as_str()
                .contains("assumeNotNull(full_resolution_business_ms)")
        );
        assert!(
            resolutions
                .as_str()
                .contains("FROM resolutions FINAL PREWHERE tenant_id = ? AND resolved_day >=")
        );
    }
}
