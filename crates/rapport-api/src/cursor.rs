//! Timeline cursors: the position of the last item of a page, in the timeline's total order
//! (`occurred_at_ms`, `event_rank`, `event_id`), plus what the cursor is valid for (tenant,
//! customer, order). Opaque to clients: base64url JSON and a checksum, so an edited or truncated
//! cursor is refused instead of silently starting somewhere else.
//!
//! A cursor is a position, not a credential: every query is scoped by the API key's tenant
//! whatever a cursor says, and a cursor issued for another tenant or customer is refused.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ErrorCode};

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

fn checksum(payload: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"rapport-timeline-cursor-v1\0");
    hasher.update(payload);
    URL_SAFE_NO_PAD.encode(&hasher.finalize()[..CHECK_BYTES])
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
        let payload = serde_json::to_vec(self).expect("a cursor serializes");
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            checksum(&payload)
        )
    }

    pub fn decode(text: &str) -> Result<Self, ApiError> {
        let bad = || {
            ApiError::new(
                ErrorCode::BadCursor,
                "cursor is not valid: pass next_cursor from a previous page unchanged",
            )
        };
        let (body, check) = text.split_once('.').ok_or_else(bad)?;
        let payload = URL_SAFE_NO_PAD.decode(body).map_err(|_| bad())?;
        if checksum(&payload) != check {
            return Err(bad());
        }
        let cursor: Self = serde_json::from_slice(&payload).map_err(|_| bad())?;
        if cursor.v != VERSION {
            return Err(bad());
        }
        Ok(cursor)
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
}
