//! Email threads that do not depend on the order messages arrive in.
//!
//! The conversation an email adapter stamps on one message ([`crate::email`]: the first id of its
//! `References`, else its `In-Reply-To`, else its own id) is a guess made from that message alone.
//! It splits a thread when a client sends only `In-Reply-To` (the reply to a reply names its
//! parent, not the root), when a list or a client trimmed `References`, or when a reply arrives
//! before its parent. [`Threads`] is the answer once several messages have been seen: every
//! message's thread by JWZ threading (RFC 5256 `THREAD=REFERENCES`, steps 1–3, through the
//! [`mail_threading`] crate), recomputed whenever a message joins, so a late parent or a late
//! middle message joins the pieces.
//!
//! **The result depends on the set of messages only, never on their arrival order.** JWZ itself
//! is order-sensitive where headers disagree (the first message to name a parent for an id wins),
//! so each connected group of messages (messages linked through any id in `Message-ID`,
//! `In-Reply-To` or `References`) is threaded in one canonical order: by `Date`, then
//! `Message-ID`. A message seen twice under one `Message-ID` keeps one version, the smallest by
//! (date, references, in-reply-to), whichever came first.
//!
//! **The thread id** is the id of the thread's root container *with phantoms kept*: the oldest
//! message the thread's headers name, whether or not it has arrived. So a reply that arrives
//! before its parent is already in the thread its parent will have, and the parent's arrival
//! changes no thread id. A thread id changes only when a message joins two threads (a late middle
//! message, or a late root whose own `References` go further back): like a merge of customers,
//! [`Threads::add`] then returns every message whose thread moved, so a reader can map old
//! conversation ids to new ones without rewriting what was stored.
//!
//! **No subject grouping.** RFC 5256 step 5 (merging roots with the same base subject) is left
//! out on purpose: in a support inbox "Order status" or "Question" is the subject of thousands of
//! unrelated customers' mails, and merging them would mix strangers' conversations. A message
//! without any threading header is a thread of its own.
//!
//! **Bounds.** Adding a message rethreads its connected group, linear in the group's size (its
//! messages and the ids they name), and the JWZ tree is walked recursively, so both are bounded
//! against hostile mail: a message's `References` count with their first id (the root) and their
//! last [`MAX_REFERENCES`]` - 1` (how RFC 5537 trims long chains), its `In-Reply-To` with its first
//! id (the only one JWZ reads); and a group of more than [`MAX_GROUP`] messages is no longer
//! rethreaded: each further message takes its parent's thread as it stands (its last reference,
//! else its `In-Reply-To`), which is order-dependent, past the size of a support conversation.
//!
//! **In the pipeline** (docs/ARCHITECTURE.md, "Email threads"), the way identity merges work:
//! history is never rewritten, the mapping is applied when state is derived and when the log is
//! read. Every email interaction carries its headers ([`threading`], the contract's `threading`
//! field); the writer stores them (`email_messages`, `email_links`), threads the connected group
//! of each message of a batch with [`Threads`] (`rapport_clickhouse::threads`), and writes every
//! stored conversation id whose thread changed to the `ReplacingMergeTree`s `email_threads`
//! (conversation → thread) and `thread_conversations` (thread → conversations). The stored
//! per-conversation state is keyed by thread, the read model and the `timeline` view resolve a
//! conversation through the mapping, so a late parent or a late middle message moves whole
//! conversations on the next read.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use mail_threading::{Message, ThreadingOptions};
use rapport_model::{Threading, Timestamp};

/// How many `References` ids of one message are used (the first and the last ones).
pub const MAX_REFERENCES: usize = 100;
/// The most messages a group is rethreaded with (see the module documentation).
pub const MAX_GROUP: usize = 200;

/// The threading headers an email interaction carries (`Interaction::threading`), within the
/// bounds of the module documentation, so the Avro record and the store stay bounded too.
pub fn threading(
    message_id: String,
    mut in_reply_to: Vec<String>,
    mut references: Vec<String>,
) -> Threading {
    bound(&mut in_reply_to, &mut references);
    Threading {
        message_id,
        in_reply_to,
        references,
    }
}

/// Keeps the first `In-Reply-To` id, and the first and the last [`MAX_REFERENCES`]` - 1`
/// `References` ids.
fn bound(in_reply_to: &mut Vec<String>, references: &mut Vec<String>) {
    in_reply_to.truncate(1);
    if references.len() > MAX_REFERENCES {
        let tail = references.len() - (MAX_REFERENCES - 1);
        references.drain(1..tail);
    }
}

/// The threading headers of one message, ids without angle brackets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadMessage {
    pub message_id: String,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    /// The `Date` header (the receive time without one): the canonical order.
    pub sent_at: Timestamp,
}

impl ThreadMessage {
    /// The threading headers of a full RFC 5322 message; `None` without a `Message-ID` (such a
    /// message is a thread of its own, under the adapter's fallback id).
    pub fn from_rfc822(raw: &[u8], received_at: Timestamp) -> Option<Self> {
        let message = super::mime::parse_message(raw, "rfc822").ok()?;
        let email = super::mime::read_headers(&message);
        Some(Self {
            message_id: email.message_id?,
            in_reply_to: email.in_reply_to,
            references: email.references,
            sent_at: email.date.unwrap_or(received_at),
        })
    }

    /// The headers within the bounds of the module documentation.
    fn bounded(mut self) -> Self {
        bound(&mut self.in_reply_to, &mut self.references);
        self
    }

    /// The version kept when one `Message-ID` is seen twice: the smallest of this key.
    fn key(&self) -> (i64, &[String], &[String]) {
        (
            self.sent_at.as_millis(),
            &self.references,
            &self.in_reply_to,
        )
    }

    /// Every id this message links: its own and every one it names.
    fn ids(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.message_id.as_str())
            .chain(self.in_reply_to.iter().map(String::as_str))
            .chain(self.references.iter().map(String::as_str))
    }
}

/// A message whose thread is now `thread` (it joined, or its thread merged into another).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Moved {
    pub message_id: String,
    pub thread: String,
}

/// Every message seen so far and the thread of each. See the module documentation.
#[derive(Debug, Default)]
pub struct Threads {
    messages: HashMap<String, ThreadMessage>,
    /// Union-find over every id seen (messages and the ids they name).
    index: HashMap<String, usize>,
    parent: Vec<usize>,
    /// The messages (by id) of each group, under the group's union-find root.
    members: HashMap<usize, BTreeSet<String>>,
    thread: HashMap<String, String>,
}

impl Threads {
    pub fn new() -> Self {
        Self::default()
    }

    /// The thread of a message seen so far.
    pub fn thread_of(&self, message_id: &str) -> Option<&str> {
        self.thread.get(message_id).map(String::as_str)
    }

    /// The conversation id of a message seen so far: `email:<thread id>`, the form every email
    /// adapter uses.
    pub fn conversation_id(&self, message_id: &str) -> Option<String> {
        self.thread_of(message_id).map(|t| format!("email:{t}"))
    }

    /// Every message seen so far, with its thread, ordered by message id.
    pub fn assignments(&self) -> BTreeMap<&str, &str> {
        self.thread
            .iter()
            .map(|(m, t)| (m.as_str(), t.as_str()))
            .collect()
    }

    /// Adds one message and rethreads its group; returns every message whose thread is new or
    /// changed (the added one first when it is among them), by message id otherwise.
    pub fn add(&mut self, message: ThreadMessage) -> Vec<Moved> {
        let message = message.bounded();
        if let Some(seen) = self.messages.get(&message.message_id)
            && seen.key() <= message.key()
        {
            return Vec::new();
        }
        let id = message.message_id.clone();
        let ids: Vec<String> = message.ids().map(str::to_owned).collect();
        let parent = message
            .references
            .last()
            .or(message.in_reply_to.first())
            .filter(|p| **p != id)
            .cloned();
        self.messages.insert(id.clone(), message);
        let own = self.slot(&id);
        for other in &ids {
            let slot = self.slot(other);
            self.union(own, slot);
        }
        let group = self.find(own);
        let members = self.members.entry(group).or_default();
        members.insert(id.clone());
        if members.len() > MAX_GROUP {
            return self.attach(id, parent);
        }
        let mut moved = self.rethread(group);
        moved.sort_by(|a, b| {
            (a.message_id != id, &a.message_id).cmp(&(b.message_id != id, &b.message_id))
        });
        moved
    }

    /// A message of a group past [`MAX_GROUP`]: its parent's thread as it stands.
    fn attach(&mut self, id: String, parent: Option<String>) -> Vec<Moved> {
        let thread = match parent {
            Some(parent) => self.thread.get(&parent).cloned().unwrap_or(parent),
            None => id.clone(),
        };
        if self.thread.get(&id) == Some(&thread) {
            return Vec::new();
        }
        self.thread.insert(id.clone(), thread.clone());
        vec![Moved {
            message_id: id,
            thread,
        }]
    }

    fn slot(&mut self, id: &str) -> usize {
        if let Some(&slot) = self.index.get(id) {
            return slot;
        }
        let slot = self.parent.len();
        self.parent.push(slot);
        self.index.insert(id.to_owned(), slot);
        slot
    }

    fn find(&mut self, mut slot: usize) -> usize {
        let mut root = slot;
        while self.parent[root] != root {
            root = self.parent[root];
        }
        while self.parent[slot] != root {
            let next = self.parent[slot];
            self.parent[slot] = root;
            slot = next;
        }
        root
    }

    fn union(&mut self, a: usize, b: usize) {
        let (a, b) = (self.find(a), self.find(b));
        if a == b {
            return;
        }
        // The larger group absorbs the smaller, so each id moves O(log n) times.
        let size = |s: &Self, r: usize| s.members.get(&r).map_or(0, BTreeSet::len);
        let (keep, gone) = if size(self, a) >= size(self, b) {
            (a, b)
        } else {
            (b, a)
        };
        self.parent[gone] = keep;
        if let Some(members) = self.members.remove(&gone) {
            self.members.entry(keep).or_default().extend(members);
        }
    }

    /// JWZ over the group's messages in canonical order; records and returns what changed.
    fn rethread(&mut self, group: usize) -> Vec<Moved> {
        let Some(members) = self.members.get(&group) else {
            return Vec::new();
        };
        let mut messages: Vec<&ThreadMessage> = members
            .iter()
            .filter_map(|m| self.messages.get(m))
            .collect();
        messages.sort_by(|a, b| {
            (a.sent_at.as_millis(), &a.message_id).cmp(&(b.sent_at.as_millis(), &b.message_id))
        });
        let input: Vec<Message> = messages
            .iter()
            .map(|m| Message {
                id: m.message_id.clone(),
                message_id: Some(format!("<{}>", m.message_id)),
                in_reply_to: m.in_reply_to.first().map(|r| format!("<{r}>")),
                references: m.references.iter().map(|r| format!("<{r}>")).collect(),
                date: chrono::DateTime::from_timestamp_millis(m.sent_at.as_millis())
                    .unwrap_or_default(),
                subject: String::new(),
            })
            .collect();
        let options = ThreadingOptions {
            subject_merge: false,
            prune_phantoms: false,
            ..ThreadingOptions::default()
        };
        let mut moved = Vec::new();
        for thread in mail_threading::thread_messages_with(&input, &options) {
            for message in thread.messages {
                if self.thread.get(&message) != Some(&thread.root_message_id) {
                    self.thread
                        .insert(message.clone(), thread.root_message_id.clone());
                    moved.push(Moved {
                        message_id: message,
                        thread: thread.root_message_id.clone(),
                    });
                }
            }
        }
        moved
    }
}

#[cfg(test)]
mod tests;
