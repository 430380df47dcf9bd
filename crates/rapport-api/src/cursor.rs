//! Page cursors: the position of the last item of a page in its list's total order, plus what
//! the cursor is valid for. A timeline cursor ([`Cursor`]) holds (`occurred_at_ms`,
//! `event_rank`, `event_id`) for a tenant, customer and order; an at-risk cursor
//! ([`AtRiskCursor`]) holds (due time, conversation id, target) for a tenant and its filters.
//! Opaque to clients: base64url JSON and a checksum (of its own kind each, so one list's cursor
//! is refused by another), so an edited or truncated cursor is refused instead of silently
//! starting somewhere else.
//!
//! A cursor is a position, not a credential: every query is scoped by the API key's tenant
//! whatever a cursor says, and a cursor issued for another tenant or customer is refused.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ErrorCode};

pub use rapport_clickhouse::read::sla::AtRiskPosition;
pub use rapport_clickhouse::read::{Order, Position};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cursor {
    /// Format version.
    pub v: u8,
    #[serde(rename = "t")]
    pub tenant_id: String,
    #[serde(rename = "c")]
    pub customer_id: String,
    #[serde(rename = "o")]
    pub order: Order,
    #[serde(rename = "p")]
    pub after: Position,
}

const VERSION: u8 = 1;
const CHECK_BYTES: usize = 12;

/// What a checksum is computed under: a cursor of one kind never passes for another.
const TIMELINE: &[u8] = b"rapport-timeline-cursor-v1\0";
const AT_RISK: &[u8] = b"rapport-at-risk-cursor-v1\0";

fn checksum(kind: &[u8], payload: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(kind);
    hasher.update(payload);
    URL_SAFE_NO_PAD.encode(&hasher.finalize()[..CHECK_BYTES])
}

fn bad_cursor() -> ApiError {
    ApiError::new(
        ErrorCode::BadCursor,
        "cursor is not valid: pass next_cursor from a previous page unchanged",
    )
}

/// `value` as base64url JSON, a dot, and its checksum under `kind`.
fn seal(kind: &[u8], value: &impl Serialize) -> String {
    let payload = serde_json::to_vec(value).expect("a cursor serializes");
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(&payload),
        checksum(kind, &payload)
    )
}

/// A cursor's format version, which [`open`] requires to be this build's.
trait Versioned {
    fn version(&self) -> u8;
}

/// The value [`seal`] made under `kind`, of this format version; `bad_cursor` for anything
/// else.
fn open<T: serde::de::DeserializeOwned + Versioned>(
    kind: &[u8],
    text: &str,
) -> Result<T, ApiError> {
    let (body, check) = text.split_once('.').ok_or_else(bad_cursor)?;
    let payload = URL_SAFE_NO_PAD.decode(body).map_err(|_| bad_cursor())?;
    if checksum(kind, &payload) != check {
        return Err(bad_cursor());
    }
    let cursor: T = serde_json::from_slice(&payload).map_err(|_| bad_cursor())?;
    if cursor.version() != VERSION {
        return Err(bad_cursor());
    }
    Ok(cursor)
}

impl Versioned for Cursor {
    fn version(&self) -> u8 {
        self.v
    }
}

impl Cursor {
    pub fn new(tenant_id: &str, customer_id: &str, order: Order, after: Position) -> Self {
        Self {
            v: VERSION,
            tenant_id: tenant_id.to_owned(),
            customer_id: customer_id.to_owned(),
            order,
            after,
        }
    }

    pub fn encode(&self) -> String {
        seal(TIMELINE, self)
    }

    pub fn decode(text: &str) -> Result<Self, ApiError> {
        open(TIMELINE, text)
    }

    /// The cursor, when it was issued for this tenant's customer (and this order, when the
    /// request names one).
    pub fn check(
        self,
        tenant_id: &str,
        customer_id: &str,
        order: Option<Order>,
    ) -> Result<Self, ApiError> {
        if self.tenant_id != tenant_id || self.customer_id != customer_id {
            return Err(ApiError::new(
                ErrorCode::BadCursor,
                "cursor was issued for another customer's timeline",
            ));
        }
        if order.is_some_and(|o| o != self.order) {
            return Err(ApiError::new(
                ErrorCode::BadCursor,
                format!(
                    "cursor was issued for order={}; keep the order while paging",
                    self.order.as_str()
                ),
            ));
        }
        Ok(self)
    }
}

/// Where the next page of `GET /v1/sla/at-risk` starts, for the tenant and filters it was
/// issued for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AtRiskCursor {
    /// Format version.
    pub v: u8,
    #[serde(rename = "t")]
    pub tenant_id: String,
    #[serde(rename = "ch")]
    pub channel: Option<String>,
    #[serde(rename = "tm")]
    pub team: Option<String>,
    #[serde(rename = "p")]
    pub after: AtRiskPosition,
}

impl Versioned for AtRiskCursor {
    fn version(&self) -> u8 {
        self.v
    }
}

impl AtRiskCursor {
    pub fn new(
        tenant_id: &str,
        channel: Option<&str>,
        team: Option<&str>,
        after: AtRiskPosition,
    ) -> Self {
        Self {
            v: VERSION,
            tenant_id: tenant_id.to_owned(),
            channel: channel.map(str::to_owned),
            team: team.map(str::to_owned),
            after,
        }
    }

    pub fn encode(&self) -> String {
        seal(AT_RISK, self)
    }

    pub fn decode(text: &str) -> Result<Self, ApiError> {
        open(AT_RISK, text)
    }

    /// The cursor, when it was issued for this tenant and these filters.
    pub fn check(
        self,
        tenant_id: &str,
        channel: Option<&str>,
        team: Option<&str>,
    ) -> Result<Self, ApiError> {
        if self.tenant_id != tenant_id {
            return Err(ApiError::new(
                ErrorCode::BadCursor,
                "cursor was issued for another tenant",
            ));
        }
        if self.channel.as_deref() != channel || self.team.as_deref() != team {
            return Err(ApiError::new(
                ErrorCode::BadCursor,
                "cursor was issued for other filters; keep channel and team while paging",
            ));
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cursor() -> Cursor {
        Cursor::new(
            "acme",
            "c-1",
            Order::Desc,
            Position {
                occurred_at_ms: 1_709_542_800_000,
                event_rank: 1,
                event_id: "9f0ed415-8d61-59c5-a4bf-5de33d73dceb".into(),
            },
        )
    }

    #[test]
    fn a_cursor_round_trips_and_is_url_safe() {
        let text = cursor().encode();
        assert!(
            text.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
            "{text}"
        );
        assert_eq!(Cursor::decode(&text).unwrap(), cursor());
    }

    #[test]
    fn an_edited_cursor_is_refused() {
        let text = cursor().encode();
        let (body, check) = text.split_once('.').unwrap();
        let mut json = String::from_utf8(URL_SAFE_NO_PAD.decode(body).unwrap()).unwrap();
        json = json.replace("acme", "globex");
        let forged = format!("{}.{check}", URL_SAFE_NO_PAD.encode(json));
        for bad in [
            forged.as_str(),
            &text[..text.len() - 1],
            &text[1..],
            body,
            "",
            "x.y",
        ] {
            let error = Cursor::decode(bad).unwrap_err();
            assert_eq!(error.code, ErrorCode::BadCursor, "{bad}");
        }
    }

    #[test]
    fn a_cursor_only_works_for_its_tenant_customer_and_order() {
        assert!(cursor().check("acme", "c-1", None).is_ok());
        assert!(cursor().check("acme", "c-1", Some(Order::Desc)).is_ok());
        for (tenant, customer, order) in [
            ("globex", "c-1", None),
            ("acme", "c-2", None),
            ("acme", "c-1", Some(Order::Asc)),
        ] {
            let error = cursor().check(tenant, customer, order).unwrap_err();
            assert_eq!(error.code, ErrorCode::BadCursor);
        }
    }

    fn at_risk_cursor() -> AtRiskCursor {
        AtRiskCursor::new(
            "acme",
            Some("chat"),
            None,
            AtRiskPosition {
                due_at_ms: 1_717_407_900_000,
                conversation_id: "intercom:1001".into(),
                target: "first_response".into(),
            },
        )
    }

    #[test]
    fn an_at_risk_cursor_round_trips_and_works_only_for_its_tenant_and_filters() {
        let text = at_risk_cursor().encode();
        assert_eq!(AtRiskCursor::decode(&text).unwrap(), at_risk_cursor());
        assert!(at_risk_cursor().check("acme", Some("chat"), None).is_ok());
        for (tenant, channel, team) in [
            ("globex", Some("chat"), None),
            ("acme", None, None),
            ("acme", Some("email"), None),
            ("acme", Some("chat"), Some("support")),
        ] {
            let error = at_risk_cursor().check(tenant, channel, team).unwrap_err();
            assert_eq!(error.code, ErrorCode::BadCursor);
        }
    }

    #[test]
    fn a_cursor_of_one_list_is_refused_by_the_other() {
        let at_risk = at_risk_cursor().encode();
        assert_eq!(
            Cursor::decode(&at_risk).unwrap_err().code,
            ErrorCode::BadCursor
        );
        let timeline = cursor().encode();
        assert_eq!(
            AtRiskCursor::decode(&timeline).unwrap_err().code,
            ErrorCode::BadCursor
        );
    }
}
