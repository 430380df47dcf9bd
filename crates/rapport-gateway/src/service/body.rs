//! Reading a request body within the endpoint's limit and the gateway's memory budget.
//!
//! The limit is checked against `Content-Length` before anything is read, and again as each
//! chunk arrives, so no more than the limit is ever buffered. Every buffered byte holds a
//! permit of one process-wide semaphore sized `limits.max_buffered_bytes`, until the request
//! is answered (the bytes live on in librdkafka's queue until the broker acknowledges them):
//! a request that would go over the budget is refused at once instead of waiting.

use std::sync::Arc;

use axum::body::Body;
use http_body_util::BodyExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Why a body was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Over the endpoint's limit (413).
    TooLarge,
    /// The memory budget is spent (503, retry).
    Busy,
    /// The client broke the framing or went away (400).
    Broken,
}

/// A body, and the budget it holds until dropped.
#[derive(Debug)]
pub struct Buffered {
    pub bytes: Vec<u8>,
    pub permit: OwnedSemaphorePermit,
}

/// Reads `body` whole, refusing it beyond `limit` bytes or beyond the `budget`.
pub async fn read(
    body: Body,
    content_length: Option<u64>,
    limit: usize,
    budget: &Arc<Semaphore>,
) -> Result<Buffered, BodyError> {
    let expected = match content_length {
        Some(length) if length > limit as u64 => return Err(BodyError::TooLarge),
        Some(length) => length as usize,
        None => 0,
    };
    let mut permit = take(budget, expected)?;
    let mut held = expected;
    let mut bytes = Vec::with_capacity(expected);
    let mut body = body;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| BodyError::Broken)?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let size = bytes.len() + data.len();
        if size > limit {
            return Err(BodyError::TooLarge);
        }
        if size > held {
            permit.merge(take(budget, size - held)?);
            held = size;
        }
        bytes.extend_from_slice(&data);
    }
    Ok(Buffered { bytes, permit })
}

fn take(budget: &Arc<Semaphore>, bytes: usize) -> Result<OwnedSemaphorePermit, BodyError> {
    let permits = u32::try_from(bytes).map_err(|_| BodyError::TooLarge)?;
    Arc::clone(budget)
        .try_acquire_many_owned(permits)
        .map_err(|_| BodyError::Busy)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body that arrives in `parts`, without a `Content-Length`.
    fn chunked(parts: &[&'static [u8]]) -> Body {
        let parts: Vec<Result<&'static [u8], std::io::Error>> =
            parts.iter().copied().map(Ok).collect();
        Body::from_stream(futures_util::stream::iter(parts))
    }

    #[tokio::test]
    async fn a_body_within_the_limit_is_read_and_holds_its_bytes_of_the_budget() {
        let budget = Arc::new(Semaphore::new(100));
        let body = read(chunked(&[b"abc", b"def"]), None, 10, &budget)
            .await
            .unwrap();
        assert_eq!(body.bytes, b"abcdef");
        assert_eq!(budget.available_permits(), 94);
        drop(body);
        assert_eq!(budget.available_permits(), 100);
    }

    #[tokio::test]
    async fn over_the_limit_is_refused_by_its_length_or_while_reading() {
        let budget = Arc::new(Semaphore::new(100));
        let err = read(Body::from("x"), Some(11), 10, &budget)
            .await
            .unwrap_err();
        assert_eq!(err, BodyError::TooLarge);
        let err = read(chunked(&[b"123456", b"789012"]), None, 10, &budget)
            .await
            .unwrap_err();
        assert_eq!(err, BodyError::TooLarge);
        assert_eq!(
            budget.available_permits(),
            100,
            "a refused body holds nothing"
        );
    }

    #[tokio::test]
    async fn a_spent_budget_refuses_at_once() {
        let budget = Arc::new(Semaphore::new(8));
        let first = read(Body::from("12345"), Some(5), 10, &budget)
            .await
            .unwrap();
        let err = read(Body::from("12345"), Some(5), 10, &budget)
            .await
            .unwrap_err();
        assert_eq!(err, BodyError::Busy);
        let err = read(chunked(&[b"12", b"345"]), None, 10, &budget)
            .await
            .unwrap_err();
        assert_eq!(err, BodyError::Busy);
        drop(first);
        assert!(
            read(chunked(&[b"12", b"345"]), None, 10, &budget)
                .await
                .is_ok()
        );
    }
}
