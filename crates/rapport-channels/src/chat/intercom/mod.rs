// PLACEHOLDER: replaced by the real adapter.
use rapport_model::Interaction;

use crate::{AdapterError, Context};

pub fn normalize(_payload: &[u8], _ctx: &Context<'_>) -> Result<Vec<Interaction>, AdapterError> {
    Err(AdapterError::UnknownSource)
}

pub fn detect(_payload: &[u8]) -> bool {
    false
}
