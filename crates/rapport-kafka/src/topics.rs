use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;
use serde::{Deserialize, Serialize};
use tracing::info;

use crate::{KafkaConfig, KafkaError};

/// The names of every topic Rapport reads or writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Topics {
    pub raw_email: String,
    pub raw_chat: String,
    pub raw_review: String,
    pub raw_support: String,
    pub interactions: String,
    pub dlq: String,
    pub identity: String,
    /// SLA announcements (`rapport-sla`, `schemas/avro/sla_event.avsc`).
    pub sla: String,
}

impl Default for Topics {
    fn default() -> Self {
        Self {
            raw_email: "rapport.raw.email".into(),
            raw_chat: "rapport.raw.chat".into(),
            raw_review: "rapport.raw.review".into(),
            raw_support: "rapport.raw.support".into(),
            interactions: "rapport.interactions.v1".into(),
            dlq: "rapport.dlq".into(),
            identity: "rapport.identity.v1".into(),
            sla: "rapport.sla.v1".into(),
        }
    }
}

/// One topic to create: name and whether it is compacted (latest value per key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    pub name: String,
    pub compacted: bool,
}

impl Topics {
    /// The same layout under another prefix (`<prefix>.raw.email`, …): one isolated set of topics
    /// per test, benchmark or demo run.
    pub fn prefixed(prefix: &str) -> Self {
        Self {
            raw_email: format!("{prefix}.raw.email"),
            raw_chat: format!("{prefix}.raw.chat"),
            raw_review: format!("{prefix}.raw.review"),
            raw_support: format!("{prefix}.raw.support"),
            interactions: format!("{prefix}.interactions.v1"),
            dlq: format!("{prefix}.dlq"),
            identity: format!("{prefix}.identity.v1"),
            sla: format!("{prefix}.sla.v1"),
        }
    }

    pub fn raw(&self) -> [&str; 4] {
        [
            &self.raw_email,
            &self.raw_chat,
            &self.raw_review,
            &self.raw_support,
        ]
    }

    /// The four raw topics with the channel family each carries.
    pub fn families(&self) -> [(&str, rapport_model::Channel); 4] {
        use rapport_model::Channel;
        [
            (&self.raw_email, Channel::Email),
            (&self.raw_chat, Channel::Chat),
            (&self.raw_review, Channel::Review),
            (&self.raw_support, Channel::Support),
        ]
    }

    pub fn specs(&self) -> Vec<TopicSpec> {
        let plain = |name: &String| TopicSpec {
            name: name.clone(),
            compacted: false,
        };
        vec![
            plain(&self.raw_email),
            plain(&self.raw_chat),
            plain(&self.raw_review),
            plain(&self.raw_support),
            plain(&self.interactions),
            plain(&self.dlq),
            TopicSpec {
                name: self.identity.clone(),
                compacted: true,
            },
            // Announcements are events with their own ids, not a latest value per key.
            plain(&self.sla),
        ]
    }
}

/// Creates the topics that do not exist yet; existing ones are left as they are. Returns the
/// names it created. Needed because some brokers (Tansu) never auto-create topics.
pub async fn ensure_topics(
    config: &KafkaConfig,
    specs: &[TopicSpec],
) -> Result<Vec<String>, KafkaError> {
    let admin: AdminClient<DefaultClientContext> = config.client_config().create()?;
    let max_message_bytes = config.max_message_bytes.to_string();
    let new_topics: Vec<NewTopic<'_>> = specs
        .iter()
        .map(|spec| {
            let topic = NewTopic::new(
                &spec.name,
                config.partitions,
                TopicReplication::Fixed(config.replication_factor),
            );
            let topic = topic.set("max.message.bytes", &max_message_bytes);
            if spec.compacted {
                topic.set("cleanup.policy", "compact")
            } else {
                topic
            }
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let mut created = Vec::new();
    for result in admin.create_topics(&new_topics, &options).await? {
        match result {
            Ok(name) => {
                info!(topic = %name, partitions = config.partitions, "created topic");
                created.push(name);
            }
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(KafkaError::CreateTopic {
                    topic,
                    reason: code.to_string(),
                });
            }
        }
    }
    Ok(created)
}
