//! The local stack scripts (`deploy/local/stack.sh`, behind `make up|down|status`) and the
//! components they start, exercised for real.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use rapport_testkit::Stack;
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/local/stack.sh")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs the script against a private state directory and private ports, so these tests never
/// touch the stack the rest of the suite uses.
struct PrivateStack {
    dir: PathBuf,
    ports: [(&'static str, u16); 4],
}

impl PrivateStack {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(rapport_testkit::unique_name(name));
        Self {
            dir,
            ports: [
                ("RAPPORT_STACK_KAFKA_PORT", free_port()),
                ("RAPPORT_STACK_CH_HTTP_PORT", free_port()),
                ("RAPPORT_STACK_CH_TCP_PORT", free_port()),
                ("RAPPORT_STACK_CH_INTERSERVER_PORT", free_port()),
            ],
        }
    }

    fn run(&self, command: &str) -> Output {
        let mut cmd = Command::new("bash");
        cmd.arg(script())
            .arg(command)
            .env("RAPPORT_STACK_DIR", &self.dir);
        for (var, port) in self.ports {
            cmd.env(var, port.to_string());
        }
        cmd.output().unwrap()
    }

    fn pid(&self, component: &str) -> Option<u32> {
        std::fs::read_to_string(self.dir.join(component).join("pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }
}

impl Drop for PrivateStack {
    fn drop(&mut self) {
        let _ = self.run("down");
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn process_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

#[test]
fn taken_port_fails_clearly_and_starts_nothing() {
    for (index, var) in ["RAPPORT_STACK_KAFKA_PORT", "RAPPORT_STACK_CH_HTTP_PORT"]
        .into_iter()
        .enumerate()
    {
        let mut stack = PrivateStack::new("taken-port");
        let holder = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = holder.local_addr().unwrap().port();
        stack.ports[index].1 = port;
        let output = stack.run("up");
        let said = text(&output);
        assert_eq!(output.status.code(), Some(1), "{said}");
        assert!(
            said.contains(&format!("port {port} ")) && said.contains("already in use"),
            "{said}"
        );
        assert!(
            said.contains(var),
            "the fix names the variable to change: {said}"
        );
        assert!(
            stack.pid("tansu").is_none() && stack.pid("clickhouse").is_none(),
            "nothing started: {said}"
        );
        drop(holder);
    }
}

#[test]
fn up_status_down_leaves_nothing_behind() {
    let stack = PrivateStack::new("lifecycle");
    let up = stack.run("up");
    assert!(up.status.success(), "{}", text(&up));
    let again = stack.run("up");
    assert!(
        again.status.success() && text(&again).contains("already running"),
        "{}",
        text(&again)
    );

    let status = stack.run("status");
    assert!(status.status.success(), "{}", text(&status));
    let pids = [
        stack.pid("tansu").unwrap(),
        stack.pid("clickhouse").unwrap(),
    ];
    assert!(pids.iter().all(|p| process_alive(*p)));

    let down = stack.run("down");
    assert!(down.status.success(), "{}", text(&down));
    for pid in pids {
        assert!(!process_alive(pid), "pid {pid} still running after down");
    }
    for (var, port) in stack.ports {
        assert!(
            TcpListener::bind(("127.0.0.1", port)).is_ok(),
            "{var}={port} still bound after down"
        );
    }
    let status = stack.run("status");
    assert_eq!(
        status.status.code(),
        Some(1),
        "status reports a stopped stack as not running"
    );
}

#[tokio::test]
async fn broker_round_trips_records() {
    let stack = Stack::from_env();
    let topic = stack.topic("stack-roundtrip", 3).await;
    let producer: FutureProducer = stack.kafka.producer_config().create().unwrap();
    for i in 0..50 {
        let payload = format!("record-{i}");
        let key = format!("k{i}");
        producer
            .send(
                FutureRecord::to(&topic).key(&key).payload(&payload),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
    }
    let consumer: StreamConsumer = stack
        .kafka
        .consumer_config(&rapport_testkit::unique_name("g"))
        .create()
        .unwrap();
    consumer.subscribe(&[&topic]).unwrap();
    let mut seen = std::collections::BTreeSet::new();
    while seen.len() < 50 {
        let message = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
            .await
            .expect("records arrive")
            .unwrap();
        seen.insert(String::from_utf8(message.payload().unwrap().to_vec()).unwrap());
    }
    assert_eq!(seen, (0..50).map(|i| format!("record-{i}")).collect());
}

#[tokio::test]
async fn clickhouse_stores_and_answers() {
    let stack = Stack::from_env();
    let db = stack.database("stack_smoke").await;
    stack
        .clickhouse(&format!(
            "CREATE TABLE {db}.t (id UInt64, name String) ENGINE = MergeTree ORDER BY id"
        ))
        .await;
    stack
        .clickhouse(&format!("INSERT INTO {db}.t VALUES (1, 'a'), (2, 'b')"))
        .await;
    let rows = stack
        .clickhouse(&format!("SELECT count(), sum(id) FROM {db}.t FORMAT TSV"))
        .await;
    stack.drop_database(&db).await;
    assert_eq!(rows.trim(), "2\t3");
}
