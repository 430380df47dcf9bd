//! Kafka plumbing shared by the services and the CLI: client settings with Rapport's defaults,
//! the topic layout, idempotent topic creation, a producer that waits for acknowledgement, and
//! the one consume loop every consuming service runs ([`consume`]).

mod config;
mod connect;
pub mod consume;
mod context;
mod decode;
mod dlq;
mod frontier;
mod progress;
mod registry;
mod resume;
mod security;
mod send;
mod topics;

pub use config::{DEFAULT_MAX_MESSAGE_BYTES, KafkaConfig};
pub use connect::{check_connection, misconfiguration};
pub use consume::{Stage, Subscription};
pub use context::{AssignmentChange, ServiceContext, consumer_metrics, leave_group};
pub use decode::{DecodeFailure, Decoder};
pub use dlq::{
    DEAD_LETTER_HEADERS, DeadLetter, HEADER_SHA256, HEADER_TRUNCATED, ORIGINAL_PREFIX,
    REDUCED_PAYLOAD_BYTES, Rejection, dead_letter_headers, is_too_large, send_dead_letter,
};
pub use frontier::{Frontiers, PartitionFrontier};
pub use progress::{StallLimits, StallReason, Stalled};
pub use registry::{RegistryConfig, RegistryError, SchemaRegistry};
pub use resume::{Admission, ResumeGuard};
pub use security::{OauthBearerConfig, Protocol, SaslMechanism, SecurityConfig};
pub use send::{confirm, enqueue, send_all_reliably, send_reliably, send_tombstone};
pub use topics::{TopicSpec, Topics, ensure_topics};

#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    #[error("kafka client: {0}")]
    Client(#[from] rdkafka::error::KafkaError),
    #[error("cannot create topic {topic}: {reason}")]
    CreateTopic { topic: String, reason: String },
    /// The brokers answered in a way no retry can change: TLS or credentials refused.
    #[error("kafka at {brokers}: {reason}")]
    Refused { brokers: String, reason: String },
}

impl KafkaError {
    /// Transport and broker-availability errors heal by themselves; configuration errors do not.
    pub fn is_retryable(&self) -> bool {
        use rdkafka::types::RDKafkaErrorCode as Code;
        match self {
            Self::Client(err) => matches!(
                err.rdkafka_error_code(),
                Some(
                    Code::BrokerTransportFailure
                        | Code::AllBrokersDown
                        | Code::OperationTimedOut
                        | Code::RequestTimedOut
                        | Code::NetworkException
                        | Code::LeaderNotAvailable
                        | Code::NotLeaderForPartition
                        | Code::QueueFull
                )
            ),
            Self::CreateTopic { .. } | Self::Refused { .. } => false,
        }
    }
}
