//! Services under test as real processes, and a private ClickHouse a test may stop and restart.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A workspace binary from the same target directory as the running test (`make test` runs
/// `cargo build --workspace --bins` first: cargo builds a package's binaries for integration tests
/// of that package only, and rapport-sla's tests live in rapport-e2e), or
/// from `RAPPORT_TEST_BIN_DIR` when set (checkouts that share a target directory overwrite each
/// other's `target/debug/<bin>`).
pub fn binary(name: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os("RAPPORT_TEST_BIN_DIR") {
        let path = Path::new(&dir).join(name);
        assert!(
            path.exists(),
            "{} is not there (RAPPORT_TEST_BIN_DIR)",
            path.display()
        );
        return path;
    }
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test>-<hash> → target/<profile>/<name>
    let path = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join(name))
        .expect("test executable inside a target directory");
    assert!(
        path.exists(),
        "{} is not built; run `cargo build --workspace --bins`",
        path.display()
    );
    path
}

/// A free port below Linux's ephemeral range (32768–60999), for a server the test stops and
/// restarts: a port from the ephemeral range can be taken by some client's outgoing connection
/// while the server is down, and the restart then fails.
pub fn stable_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let base = std::process::id().wrapping_mul(7919);
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = 20_000 + (base.wrapping_add(n.wrapping_mul(104_729)) % 12_000) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Runs `deploy/local/stack.sh <command> [args]` with the given environment, failing the test
/// with the script's output when it fails.
fn stack_script(command: &str, env: &[(&str, String)]) {
    stack_script_with(command, &[], env);
}

fn stack_script_with(command: &str, args: &[&str], env: &[(&str, String)]) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/local/stack.sh");
    let output = Command::new(script)
        .arg(command)
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("stack script runs");
    assert!(
        output.status.success(),
        "stack.sh {command} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A free loopback address for a service's operations endpoint.
pub fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
}

/// A running service binary; killed when dropped, so a failing test never leaves one behind.
#[derive(Debug)]
pub struct Service {
    child: Child,
    name: String,
    pub http: SocketAddr,
}

/// How to start a service beyond its config file.
#[derive(Debug, Default, Clone)]
pub struct ServiceOptions {
    /// Extra environment variables (`RAPPORT_*_FILE` secrets, `SSL_CERT_FILE`).
    pub env: Vec<(String, String)>,
    /// Where its stderr (the log) goes; the test's own stderr when unset.
    pub log_file: Option<PathBuf>,
}

impl Service {
    /// Starts `binary --config config` with its operations endpoint on `http`, and waits until
    /// that endpoint accepts connections (failing if the process exits first).
    pub async fn start(binary: &str, config: &Path, http: SocketAddr, log_filter: &str) -> Service {
        Self::start_with(binary, config, http, log_filter, &ServiceOptions::default()).await
    }

    /// [`Service::start`] with extra environment and the log written to a file.
    pub async fn start_with(
        binary: &str,
        config: &Path,
        http: SocketAddr,
        log_filter: &str,
        options: &ServiceOptions,
    ) -> Service {
        let mut service = Self::launch(binary, config, http, log_filter, options);
        let deadline = Instant::now() + Duration::from_secs(60);
        while tokio::net::TcpStream::connect(http).await.is_err() {
            assert!(
                service.child.try_wait().unwrap().is_none(),
                "{} exited at start-up (see its stderr {})",
                service.name,
                options
                    .log_file
                    .as_ref()
                    .map_or_else(|| "above".to_owned(), |p| format!("in {}", p.display()))
            );
            assert!(
                Instant::now() < deadline,
                "{} did not open {http} within 60 s",
                service.name
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        service
    }

    /// Starts the process without waiting for anything: for a service that is expected to stop
    /// by itself (see [`Service::exited`]).
    pub fn launch(
        binary: &str,
        config: &Path,
        http: SocketAddr,
        log_filter: &str,
        options: &ServiceOptions,
    ) -> Service {
        let name = Path::new(binary)
            .file_name()
            .map_or_else(|| binary.to_owned(), |n| n.to_string_lossy().into_owned());
        let stderr = match &options.log_file {
            Some(path) => Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display())),
            ),
            None => Stdio::inherit(),
        };
        let child = Command::new(binary)
            .arg("--config")
            .arg(config)
            .env("RAPPORT_HTTP__LISTEN", http.to_string())
            .env("RUST_LOG", log_filter)
            .envs(options.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
        Service { child, name, http }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status, once the process has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().expect("process status")
    }

    /// Sends `signal` (`TERM`, `KILL`, …) and waits up to 30 s for the process to exit.
    pub fn signal(&mut self, signal: &str) -> std::process::ExitStatus {
        let sent = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -{signal} {} failed", self.child.id());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit within 30 s of SIG{signal}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// GETs an operations endpoint: (status code, whole response).
    pub async fn get(&self, path: &str) -> (u16, String) {
        http_get(self.http, path).await
    }

    /// GETs an endpoint that wants `Authorization: Bearer <token>` (the linker's admin API).
    pub async fn get_with_token(&self, path: &str, token: &str) -> (u16, String) {
        request(
            self.http,
            path,
            &format!("Authorization: Bearer {token}\r\n"),
        )
        .await
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A ClickHouse server of the test's own (own ports, own data directory), started with the
/// local stack's script, so a test can stop and restart it without disturbing other tests.
#[derive(Debug)]
pub struct PrivateClickHouse {
    dir: PathBuf,
    http_port: u16,
    tcp_port: u16,
    interserver_port: u16,
    options: ClickHouseOptions,
}

/// What a private ClickHouse serves besides plain HTTP.
#[derive(Debug, Default, Clone)]
pub struct ClickHouseOptions {
    /// An HTTPS port with this certificate and key.
    pub https: Option<(u16, crate::Issued)>,
    /// One more user, with this password.
    pub user: Option<(String, String)>,
}

impl PrivateClickHouse {
    pub fn start(name: &str) -> Self {
        Self::start_with(name, ClickHouseOptions::default())
    }

    pub fn start_with(name: &str, options: ClickHouseOptions) -> Self {
        let dir = std::env::temp_dir().join(crate::unique_name(name));
        let port = stable_port;
        let server = Self {
            dir,
            http_port: port(),
            tcp_port: port(),
            interserver_port: port(),
            options,
        };
        server.up();
        server
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// `https://localhost:<port>` when started with an HTTPS port.
    pub fn https_url(&self) -> Option<String> {
        self.options
            .https
            .as_ref()
            .map(|(port, _)| format!("https://localhost:{port}"))
    }

    /// Starts the server again on the same ports and data (a no-op when it runs).
    pub fn up(&self) {
        self.script("clickhouse-up");
    }

    /// Stops the server (SIGTERM, then SIGKILL after 10 s), keeping its data.
    pub fn down(&self) {
        self.script("clickhouse-down");
    }

    fn script(&self, command: &str) {
        let mut env = vec![
            ("RAPPORT_STACK_DIR", self.dir.display().to_string()),
            ("RAPPORT_STACK_CH_HTTP_PORT", self.http_port.to_string()),
            ("RAPPORT_STACK_CH_TCP_PORT", self.tcp_port.to_string()),
            (
                "RAPPORT_STACK_CH_INTERSERVER_PORT",
                self.interserver_port.to_string(),
            ),
        ];
        if let Some((port, issued)) = &self.options.https {
            env.push(("RAPPORT_STACK_CH_HTTPS_PORT", port.to_string()));
            env.push((
                "RAPPORT_STACK_CH_TLS_CERT",
                issued.cert_file.display().to_string(),
            ));
            env.push((
                "RAPPORT_STACK_CH_TLS_KEY",
                issued.key_file.display().to_string(),
            ));
        }
        if let Some((user, password)) = &self.options.user {
            env.push(("RAPPORT_STACK_CH_USER", user.clone()));
            env.push(("RAPPORT_STACK_CH_PASSWORD", password.clone()));
        }
        stack_script(command, &env);
    }
}

impl Drop for PrivateClickHouse {
    fn drop(&mut self) {
        self.down();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Tansu broker of the test's own, with sqlite storage so that its topics survive a restart
/// (or memory storage, as the local stack's, for a benchmark that wants a fresh broker).
/// A failed test keeps its log and storage (the scratch dir's), which explain the failure.
#[derive(Debug)]
pub struct PrivateBroker {
    dir: crate::ScratchDir,
    port: u16,
    advertised: Option<String>,
    authentication: bool,
    storage: &'static str,
}

impl PrivateBroker {
    pub fn start(name: &str) -> Self {
        Self::start_with(name, "sqlite")
    }

    /// A fresh broker with the local stack's memory storage: nothing survives a restart.
    pub fn start_in_memory(name: &str) -> Self {
        Self::start_with(name, "memory")
    }

    fn start_with(name: &str, storage: &'static str) -> Self {
        let broker = Self {
            dir: crate::ScratchDir::new(name),
            port: stable_port(),
            advertised: None,
            authentication: false,
            storage,
        };
        broker.up();
        broker
    }

    /// A broker on `port` that advertises `advertised` (a TLS proxy in front of it) and, when
    /// `users` is not empty, requires SASL: the users (mechanism `scram256` or `scram512`, name,
    /// password) are created first, while the broker still admits clients without SASL (Tansu's
    /// own client cannot authenticate), and the broker is then restarted with authentication.
    pub fn start_behind(
        name: &str,
        port: u16,
        advertised: &str,
        users: &[(&str, &str, &str)],
    ) -> Self {
        let mut broker = Self {
            dir: crate::ScratchDir::new(name),
            port,
            advertised: Some(advertised.to_owned()),
            authentication: false,
            storage: "sqlite",
        };
        broker.up();
        if !users.is_empty() {
            for (mechanism, user, password) in users {
                stack_script_with("broker-user", &[mechanism, user, password], &broker.env());
            }
            broker.down();
            broker.authentication = true;
            broker.up();
        }
        broker
    }

    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn up(&self) {
        self.script("broker-up");
    }

    pub fn down(&self) {
        self.script("broker-down");
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("RAPPORT_STACK_DIR", self.dir.path().display().to_string()),
            ("RAPPORT_STACK_KAFKA_PORT", self.port.to_string()),
            ("RAPPORT_STACK_KAFKA_STORAGE", self.storage.to_owned()),
        ];
        if let Some(advertised) = &self.advertised {
            env.push(("RAPPORT_STACK_KAFKA_ADVERTISED", advertised.clone()));
        }
        if self.authentication {
            env.push(("RAPPORT_STACK_KAFKA_AUTHENTICATION", "1".to_owned()));
        }
        env
    }

    fn script(&self, command: &str) {
        stack_script(command, &self.env());
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        // Stopped before `dir` goes, which is then removed or kept.
        self.down();
    }
}

/// GETs `path` from a service's operations endpoint at `addr`: (status code, whole response).
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    request(addr, path, "").await
}

async fn request(addr: SocketAddr, path: &str, headers: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("ops endpoint listening");
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, response)
}

/// A ClickHouse cluster of the test's own on loopback: a standalone ZooKeeper and
/// `shards × replicas` ClickHouse servers, each with its own ports and data directory, started
/// and stopped by pid through the local stack's script. The cluster is named [`CLUSTER`] in every
/// server's `remote_servers`; server `i` is replica `i % replicas` of shard `i / replicas + 1`.
#[derive(Debug)]
pub struct PrivateCluster {
    dir: PathBuf,
    zookeeper_port: u16,
    servers: Vec<ClusterServer>,
}

/// The `remote_servers` name of every [`PrivateCluster`].
pub const CLUSTER: &str = "rapport";

#[derive(Debug)]
struct ClusterServer {
    shard: u32,
    http_port: u16,
    tcp_port: u16,
    interserver_port: u16,
}

impl PrivateCluster {
    /// Starts ZooKeeper and every server, and waits until each server sees the cluster.
    pub fn start(name: &str, shards: u32, replicas: u32) -> Self {
        assert!(shards >= 1 && replicas >= 1, "a cluster has a server");
        let dir = std::env::temp_dir().join(crate::unique_name(name));
        std::fs::create_dir_all(&dir).expect("cluster directory");
        let servers = (0..shards * replicas)
            .map(|i| ClusterServer {
                shard: i / replicas + 1,
                http_port: stable_port(),
                tcp_port: stable_port(),
                interserver_port: stable_port(),
            })
            .collect();
        let cluster = Self {
            dir,
            zookeeper_port: stable_port(),
            servers,
        };
        stack_script("zookeeper-up", &cluster.zookeeper_env());
        // The profile setting cluster mode needs on several shards (`cluster::check` in
        // rapport-clickhouse says why).
        let prefer_local = u8::from(shards == 1);
        std::fs::write(
            cluster.users_file(),
            format!(
                "<?xml version=\"1.0\"?>\n<yandex>\n    <profiles>\n        <default>\n            \
                 <prefer_localhost_replica>{prefer_local}</prefer_localhost_replica>\n        \
                 </default>\n    </profiles>\n</yandex>\n"
            ),
        )
        .expect("users config");
        for i in 0..cluster.servers.len() {
            std::fs::write(cluster.config_file(i), cluster.config_xml(i)).expect("server config");
            cluster.up(i);
        }
        cluster
    }

    /// The `remote_servers` name to put in `[clickhouse] cluster`.
    pub fn name(&self) -> &'static str {
        CLUSTER
    }

    /// How many servers the cluster has.
    pub fn len(&self) -> usize {
        self.servers.len()
    }

    /// Always false: a cluster has at least one server.
    pub fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }

    /// Server `i`'s HTTP URL.
    pub fn url(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.servers[i].http_port)
    }

    /// The shard (from 1) server `i` holds a replica of.
    pub fn shard(&self, i: usize) -> u32 {
        self.servers[i].shard
    }

    /// Starts server `i` again on the same ports and data (a no-op when it runs).
    pub fn up(&self, i: usize) {
        stack_script("clickhouse-up", &self.server_env(i));
    }

    /// Starts server `i` after a crash as an operator would: a replica killed between writing a
    /// part (a merge's, a fetch's) and recording it in ZooKeeper finds a part ZooKeeper does not
    /// know and refuses to start when that is much of its data; ClickHouse's `force_restore_data`
    /// flag makes it move such parts to `detached/` and fetch the data from the other replicas.
    pub fn restore(&self, i: usize) {
        let mut env = self.server_env(i);
        env.push(("RAPPORT_STACK_CH_FORCE_RESTORE", "1".to_owned()));
        stack_script("clickhouse-up", &env);
    }

    /// Stops server `i` (SIGTERM, then SIGKILL after 10 s), keeping its data.
    pub fn down(&self, i: usize) {
        stack_script("clickhouse-down", &self.server_env(i));
    }

    /// Kills server `i` with SIGKILL, as a machine that dies, and waits until it is gone.
    pub fn kill(&self, i: usize) {
        stack_script("clickhouse-kill", &self.server_env(i));
    }

    fn users_file(&self) -> PathBuf {
        self.dir.join("users.xml")
    }

    fn config_file(&self, i: usize) -> PathBuf {
        self.dir.join(format!("server-{i}.xml"))
    }

    /// Server `i`'s part of the configuration: the cluster, ZooKeeper, its own macros. Replicas
    /// fetch parts from each other over the interserver port, at the host they register in
    /// ZooKeeper, which must be loopback here rather than the machine's name.
    fn config_xml(&self, i: usize) -> String {
        let mut shards = String::new();
        let mut current = 0;
        for server in &self.servers {
            if server.shard != current {
                if current != 0 {
                    shards.push_str("            </shard>\n");
                }
                shards.push_str(
                    "            <shard>\n                <internal_replication>true</internal_replication>\n",
                );
                current = server.shard;
            }
            shards.push_str(&format!(
                "                <replica><host>127.0.0.1</host><port>{}</port></replica>\n",
                server.tcp_port
            ));
        }
        shards.push_str("            </shard>\n");
        format!(
            r#"<?xml version="1.0"?>
<yandex>
    <interserver_http_host>127.0.0.1</interserver_http_host>
    <zookeeper>
        <node><host>127.0.0.1</host><port>{zookeeper}</port></node>
        <session_timeout_ms>10000</session_timeout_ms>
    </zookeeper>
    <distributed_ddl><path>/clickhouse/task_queue/ddl</path></distributed_ddl>
    <macros><shard>{shard}</shard><replica>server-{i}</replica></macros>
    <remote_servers>
        <{CLUSTER}>
{shards}        </{CLUSTER}>
    </remote_servers>
</yandex>
"#,
            zookeeper = self.zookeeper_port,
            shard = self.servers[i].shard,
        )
    }

    fn zookeeper_env(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                "RAPPORT_STACK_DIR",
                self.dir.join("zookeeper-stack").display().to_string(),
            ),
            ("RAPPORT_STACK_ZK_PORT", self.zookeeper_port.to_string()),
        ]
    }

    fn server_env(&self, i: usize) -> Vec<(&'static str, String)> {
        let server = &self.servers[i];
        vec![
            (
                "RAPPORT_STACK_DIR",
                self.dir.join(format!("server-{i}")).display().to_string(),
            ),
            ("RAPPORT_STACK_CH_HTTP_PORT", server.http_port.to_string()),
            ("RAPPORT_STACK_CH_TCP_PORT", server.tcp_port.to_string()),
            (
                "RAPPORT_STACK_CH_INTERSERVER_PORT",
                server.interserver_port.to_string(),
            ),
            (
                "RAPPORT_STACK_CH_CONFIG_D",
                self.config_file(i).display().to_string(),
            ),
            (
                "RAPPORT_STACK_CH_USERS_D",
                self.users_file().display().to_string(),
            ),
        ]
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        for i in 0..self.servers.len() {
            self.down(i);
        }
        stack_script("zookeeper-down", &self.zookeeper_env());
        // A failed test keeps the servers' and ZooKeeper's logs, which explain the failure.
        if std::thread::panicking() {
            eprintln!("cluster logs kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
