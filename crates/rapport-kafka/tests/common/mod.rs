//! What the mock-cluster tests share.

use std::sync::Arc;

use rapport_kafka::{KafkaConfig, ServiceContext};
use rdkafka::consumer::{Consumer, StreamConsumer};

/// A consumer in `group` with `context`, subscribed to `topic`, as the services make theirs.
pub fn subscribed(
    kafka: &KafkaConfig,
    group: &str,
    topic: &str,
    context: &ServiceContext,
) -> Arc<StreamConsumer<ServiceContext>> {
    let consumer: Arc<StreamConsumer<ServiceContext>> = Arc::new(
        kafka
            .consumer_config(group)
            .create_with_context(context.clone())
            .unwrap(),
    );
    consumer.subscribe(&[topic]).unwrap();
    consumer
}
