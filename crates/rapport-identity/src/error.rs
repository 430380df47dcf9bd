/// Why an operator's unlink was refused. Both cases are mistakes in the request, so retrying the
/// same request never helps.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnlinkError {
    /// The tenant has never seen this identifier key.
    #[error("unknown identifier {key:?} in tenant {tenant_id:?}")]
    UnknownIdentifier {
        /// The tenant searched.
        tenant_id: String,
        /// The key as given (`type:value`).
        key: String,
    },
    /// The two identifiers may still belong to one customer through other links: retract those
    /// (see [`IdentityGraph::links_of`](crate::IdentityGraph::links_of)).
    #[error("{a:?} and {b:?} are not directly linked in tenant {tenant_id:?}")]
    NotLinked {
        /// The tenant searched.
        tenant_id: String,
        /// One key as given.
        a: String,
        /// The other key as given.
        b: String,
    },
}

impl UnlinkError {
    /// Always false: the same request fails the same way until the operator changes it.
    pub fn is_retryable(&self) -> bool {
        false
    }
}
