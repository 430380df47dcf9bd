//! One email message to one interaction, shared by every email source.
//!
//! Each route first turns what it received into an [`Email`] (from a full MIME message with
//! [`read_message`], or from a header block plus the body fields a webhook posts with
//! [`read_headers`]); [`interaction`] then applies the rules below, so they are the same whichever
//! way a message arrived.
//!
//! - **Event id**: the `Message-ID` without angle brackets, so the same mail delivered twice, or
//!   by two routes of one source, collapses. Without one, a UUID v5 of the source and the
//!   message's bytes ([`fallback_id`]), so a retried delivery of the same bytes gets the same id.
//! - **Conversation** (a stateless JWZ thread root, RFC 5256 `THREAD=REFERENCES`): the first id in
//!   `References`, else the first `In-Reply-To`, else the message's own id; ids equal to the
//!   message's own id are skipped, so a `References` cycle never makes a message its own parent.
//!   A reply that arrives before its parent therefore already names the parent's thread. The
//!   prefix is `email:` for every email source, so one thread seen through SendGrid and through
//!   SES is one conversation.
//! - **Direction**: a `From` address in the tenant's agent domains is outbound (role agent, or bot
//!   when `bot_ids` lists it or its local part is a no-reply / mailer-daemon / postmaster
//!   mailbox); anything else is inbound from a customer.
//! - **Identities** (customer only): for inbound mail the `From` address and a different
//!   `Reply-To`; for outbound mail the `To` and `Cc` addresses. Agent-domain, bot and no-reply
//!   addresses are never identities.
//! - **Auto-reply** (see [`AutoSignals`]): `Auto-Submitted` other than `no`; `Precedence: bulk`,
//!   `junk`, `list` or `auto_reply`; any `X-Autoreply`, `X-Autorespond` or `X-Auto-Reply`
//!   header; a subject that starts with an auto-reply prefix (`Automatic reply:`, `Auto:`,
//!   `Out of Office`, `Autoreply`, `Abwesenheitsnotiz`, `Réponse automatique`, …). Exchange's
//!   `X-Auto-Response-Suppress: All` (or `OOF`) counts only on inbound mail: customers' mail
//!   clients never set it on mail a person wrote, but helpdesks set it on every human agent
//!   reply they send to stop auto-responder loops, so on outbound mail it proves nothing.
//! - **Text**: the plain body (HTML converted when there is no plain part) with quoted history
//!   and signature cut ([`text::strip_quoted`]); attachments are counted and named, never read.
//! - **Time**: the `Date` header; without a valid one the provider's receive time when it has
//!   one (SES), else the context's receive time.

use std::sync::LazyLock;

use mail_parser::decoders::charsets::map::charset_decoder;
use mail_parser::{Address, HeaderName, HeaderValue, Message, MessageParser, MimeHeaders};
use rapport_model::{
    ActorRole, Channel, Direction, Identity, Interaction, InteractionKind, Source, Timestamp,
    namespaced_id, normalize_email,
};

use crate::common::identifiers::{is_company, is_noreply};
use crate::common::{self, Core, text};
use crate::{AdapterError, Context};

/// A mailbox from an address header: the normalized address (if it is one) and display name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Mailbox {
    pub address: Option<String>,
    pub name: Option<String>,
}

/// Header evidence that a message was sent by an automaton (see the module docs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct AutoSignals {
    /// `Auto-Submitted`, `Precedence`, `X-Autoreply`-style headers: automated on any mail.
    pub automated: bool,
    /// `X-Auto-Response-Suppress: All|OOF`: counted on inbound mail only.
    pub suppress_all: bool,
}

/// The facts of one email that the interaction is built from, however the message arrived.
#[derive(Debug, Clone, Default)]
pub(crate) struct Email {
    pub message_id: Option<String>,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    pub date: Option<Timestamp>,
    pub from: Option<Mailbox>,
    pub reply_to: Vec<Mailbox>,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    pub subject: Option<String>,
    /// Plain text as sent, quotes included; [`interaction`] strips them.
    pub body: Option<String>,
    pub language: Option<String>,
    pub attachment_count: u32,
    pub attachment_names: Vec<String>,
    pub auto: AutoSignals,
}

impl Email {
    /// Whether [`Email::fill_from`] could change anything given a second reading that carries
    /// at most a `From`, `To`, `Cc` and `Subject` (the flags say which): when it could not,
    /// webhooks skip parsing their separate fields.
    pub(crate) fn lacks_any(&self, from: bool, to: bool, cc: bool, subject: bool) -> bool {
        (from && self.from.as_ref().is_none_or(|m| m.address.is_none()))
            || (to && self.to.is_empty())
            || (cc && self.cc.is_empty())
            || (subject && self.subject.is_none())
    }

    /// Fills what this message's own headers lack (or could not parse) from `other`, a second
    /// reading of the same message (a webhook's parsed `from`/`subject` fields, SES's
    /// `commonHeaders`).
    pub(crate) fn fill_from(&mut self, other: Email) {
        self.message_id = self.message_id.take().or(other.message_id);
        self.date = self.date.or(other.date);
        if self.from.as_ref().is_none_or(|m| m.address.is_none())
            && other.from.as_ref().is_some_and(|m| m.address.is_some())
        {
            self.from = other.from;
        }
        self.subject = self.subject.take().or(other.subject);
        for (mine, theirs) in [
            (&mut self.to, other.to),
            (&mut self.cc, other.cc),
            (&mut self.reply_to, other.reply_to),
        ] {
            if mine.is_empty() {
                *mine = theirs;
            }
        }
        if self.in_reply_to.is_empty() {
            self.in_reply_to = other.in_reply_to;
        }
        if self.references.is_empty() {
            self.references = other.references;
        }
    }
}

/// What the route knows beyond the message: which source, the id to use when the message has no
/// `Message-ID`, and the provider's own receive time if it reports one.
pub(crate) struct Delivery<'a> {
    pub source: Source,
    /// Called only for a message without a `Message-ID`: hashing the message's bytes for an id
    /// most messages do not need cost more than reading their headers.
    pub fallback_id: &'a dyn Fn() -> String,
    pub received_at: Option<Timestamp>,
}

impl std::fmt::Debug for Delivery<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("source", &self.source)
            .field("received_at", &self.received_at)
            .finish_non_exhaustive()
    }
}

/// Headers that only an RFC 5322 message carries; a payload with none of them is not an email.
const MESSAGE_HEADERS: [HeaderName<'static>; 12] = [
    HeaderName::From,
    HeaderName::MessageId,
    HeaderName::Date,
    HeaderName::Subject,
    HeaderName::To,
    HeaderName::Cc,
    HeaderName::Received,
    HeaderName::MimeVersion,
    HeaderName::ReturnPath,
    HeaderName::InReplyTo,
    HeaderName::References,
    HeaderName::ReplyTo,
];

/// mail-parser set up to parse only the header fields the adapters read (and the MIME fields a
/// body or a form-data part needs); every other field is kept with its name and offsets but its
/// value is not parsed. By default mail-parser parses every field it knows, `Received` chains
/// included, which no adapter reads (about 1 % of a mail's instructions). The auto-reply headers
/// and the 8-bit re-reads work on the raw bytes at the recorded offsets.
pub(crate) static PARSER: LazyLock<MessageParser> = LazyLock::new(|| {
    MessageParser::new()
        .with_mime_headers()
        .with_message_ids()
        .header_date(HeaderName::Date)
        .header_text(HeaderName::Subject)
        .header_address(HeaderName::From)
        .header_address(HeaderName::ReplyTo)
        .header_address(HeaderName::To)
        .header_address(HeaderName::Cc)
        .header_comma_separated(HeaderName::ContentLanguage)
        .default_header_ignore()
});

/// The stable id of a message without a `Message-ID`: UUID v5 over the source and the bytes.
pub(crate) fn fallback_id(source: Source, bytes: &[u8]) -> String {
    let kind = format!("{}-no-message-id", source.as_str());
    namespaced_id(&[&kind, &String::from_utf8_lossy(bytes)]).to_string()
}

/// Parses a full MIME message; `expected` names the source in errors. A payload without any
/// RFC 5322 header field is `unknown_shape`.
pub(crate) fn parse_message<'x>(
    raw: &'x [u8],
    expected: &'static str,
) -> Result<Message<'x>, AdapterError> {
    let message = PARSER
        .parse(raw)
        .ok_or_else(|| AdapterError::shape(expected, "no RFC 5322 header fields"))?;
    require_message_headers(&message, expected)?;
    Ok(message)
}

/// Parses a bare header block (`Name: value` lines), as webhooks post it beside the body.
pub(crate) fn parse_headers<'x>(
    block: &'x [u8],
    expected: &'static str,
) -> Result<Message<'x>, AdapterError> {
    let message = PARSER
        .parse_headers(block)
        .ok_or_else(|| AdapterError::shape(expected, "no RFC 5322 header fields"))?;
    require_message_headers(&message, expected)?;
    Ok(message)
}

fn require_message_headers(
    message: &Message<'_>,
    expected: &'static str,
) -> Result<(), AdapterError> {
    let known = message
        .headers()
        .iter()
        .any(|h| MESSAGE_HEADERS.contains(&h.name));
    if known {
        Ok(())
    } else {
        Err(AdapterError::shape(expected, "no RFC 5322 header fields"))
    }
}

/// Builds a header block from name/value pairs (Mailgun's `message-headers`, SES's `headers`),
/// so they are parsed by the same code as a real message. Line breaks inside a value become
/// folding white space, and pairs whose name is not a header name are dropped, so no value can
/// inject a header or end the block early.
pub(crate) fn header_block<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Vec<u8> {
    let mut block = String::new();
    for (name, value) in pairs {
        let name = name.trim();
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
            continue;
        }
        let value: String = value
            .split(['\r', '\n'])
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .collect::<Vec<_>>()
            .join("\r\n ");
        block.push_str(name);
        block.push_str(": ");
        block.push_str(&value);
        block.push_str("\r\n");
    }
    block.push_str("\r\n");
    block.into_bytes()
}

/// Reads headers, body and attachments of a full MIME message.
pub(crate) fn read_message(message: &Message<'_>) -> Email {
    let mut email = read_headers(message);
    let html_only = message.text_part(0).is_some_and(|part| part.is_text_html());
    let body = match message.body_html(0) {
        Some(html) if html_only => Some(html_text(&html)),
        _ => message.body_text(0).map(|body| text::tidy(&body)),
    };
    email.body = body.filter(|b| !b.is_empty());
    for part in message.attachments() {
        let disposition = part.content_disposition();
        let embedded =
            part.content_id().is_some() && !disposition.is_some_and(|d| d.is_attachment());
        if embedded {
            continue;
        }
        email.attachment_count = email.attachment_count.saturating_add(1);
        if let Some(name) = part
            .attachment_name()
            .map(str::trim)
            .filter(|n| !n.is_empty())
        {
            email.attachment_names.push(name.to_owned());
        }
    }
    email
}

/// Plain text of an HTML body without its quoted history: `<blockquote>` elements (how Gmail,
/// Apple Mail, Thunderbird and Outlook on the web quote) are cut before conversion. When that
/// leaves nothing, the whole body is kept.
pub(crate) fn html_text(html: &str) -> String {
    const OPEN: &str = "<blockquote";
    const CLOSE: &str = "</blockquote";
    let lower = html.to_ascii_lowercase();
    let (mut kept, mut depth, mut at, mut out) = (0usize, 0usize, 0usize, String::new());
    // The next opening and closing tag at or after `at`, each searched again only once `at` has
    // passed it: re-searching both on every step made many openings without a closing quadratic.
    let find = |needle: &str, from: usize| {
        memchr::memmem::find(
            lower.as_bytes().get(from..).unwrap_or_default(),
            needle.as_bytes(),
        )
        .map(|i| i + from)
    };
    let (mut open, mut close) = (find(OPEN, 0), find(CLOSE, 0));
    loop {
        if open.is_some_and(|o| o < at) {
            open = find(OPEN, at);
        }
        if close.is_some_and(|c| c < at) {
            close = find(CLOSE, at);
        }
        match (open, close) {
            (Some(o), c) if c.is_none_or(|c| o < c) => {
                if depth == 0 {
                    out.push_str(html.get(kept..o).unwrap_or_default());
                }
                depth += 1;
                at = o + OPEN.len();
            }
            (_, Some(c)) => {
                at = c + CLOSE.len();
                if depth > 0 {
                    depth -= 1;
                    if depth == 0 {
                        kept = lower
                            .get(at..)
                            .and_then(|rest| rest.find('>'))
                            .map_or(html.len(), |i| at + i + 1);
                        at = kept;
                    }
                }
            }
            _ => break,
        }
    }
    if depth == 0 {
        out.push_str(html.get(kept..).unwrap_or_default());
    }
    let stripped = text::html_to_text(&out);
    if stripped.is_empty() {
        text::html_to_text(html)
    } else {
        stripped
    }
}

/// Reads the header fields of a message (or of a bare header block); body and attachments are
/// left empty for the caller to fill in from the webhook's own fields.
pub(crate) fn read_headers(message: &Message<'_>) -> Email {
    let date = message
        .date()
        .filter(|d| d.is_valid())
        .map(|d| Timestamp::from_unix_seconds(d.to_timestamp()));
    let language = message
        .header(HeaderName::ContentLanguage)
        .and_then(|v| ids(v).into_iter().next())
        .and_then(|tag| text::non_empty(tag.split(',').next().map(str::to_owned)));
    let subject = subject(message).map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "));
    Email {
        message_id: message.message_id().and_then(clean_id),
        in_reply_to: ids(message.in_reply_to()),
        references: ids(message.references()),
        date,
        from: sender(message),
        reply_to: mailboxes(message.reply_to()),
        to: mailboxes(message.to()),
        cc: mailboxes(message.cc()),
        subject: text::non_empty(subject),
        body: None,
        language,
        attachment_count: 0,
        attachment_names: Vec::new(),
        auto: auto_signals(message),
    }
}

/// The raw bytes of a header field's value, when the header is present.
fn raw_value<'m>(message: &'m Message<'_>, name: &HeaderName<'_>) -> Option<&'m [u8]> {
    let header = message.headers().iter().find(|h| &h.name == name)?;
    let start = usize::try_from(header.offset_start).ok()?;
    let end = usize::try_from(header.offset_end).ok()?;
    message.raw_message().get(start..end)
}

/// Re-reads a header written in raw 8-bit bytes that are not UTF-8 (old clients send Latin-1
/// names and subjects unencoded) as windows-1252, the superset of Latin-1 such mail uses.
fn reread_8bit(message: &Message<'_>, name: HeaderName<'static>) -> Option<Message<'static>> {
    let raw = raw_value(message, &name)?;
    if std::str::from_utf8(raw).is_ok() {
        return None;
    }
    let decoded = charset_decoder(b"windows-1252").map_or_else(
        || String::from_utf8_lossy(raw).into_owned(),
        |decode| decode(raw),
    );
    let block = header_block([(name.as_static_str(), decoded.as_str())]);
    PARSER.parse_headers(&block).map(Message::into_owned)
}

fn subject(message: &Message<'_>) -> Option<String> {
    match reread_8bit(message, HeaderName::Subject) {
        Some(fixed) => fixed.subject().map(str::to_owned),
        None => message.subject().map(str::to_owned),
    }
}

/// The first `From` mailbox. A header too broken for the address parser (an unclosed quote or
/// bracket) is salvaged: a `local@domain` token in it is the address and the text before it the
/// name, so a broken header does not lose the sender.
fn sender(message: &Message<'_>) -> Option<Mailbox> {
    let fixed = reread_8bit(message, HeaderName::From);
    let from = fixed.as_ref().map_or_else(|| message.from(), |m| m.from());
    let parsed = mailboxes(from).into_iter().next();
    if parsed.as_ref().is_some_and(|m| m.address.is_some()) {
        return parsed;
    }
    let raw = String::from_utf8_lossy(raw_value(message, &HeaderName::From)?).into_owned();
    let separator =
        |c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | ',' | ';' | '(' | ')');
    let token = raw.split(separator).find(|t| t.contains('@'));
    let Some(address) = token.and_then(|t| normalize_email(t).ok()) else {
        return parsed;
    };
    let name = raw
        .split('<')
        .next()
        .map(|n| {
            n.trim_matches(|c: char| c == '"' || c.is_whitespace())
                .to_owned()
        })
        .filter(|n| !n.is_empty() && !n.contains('@'));
    Some(Mailbox {
        address: Some(address),
        name,
    })
}

fn mailboxes(address: Option<&Address<'_>>) -> Vec<Mailbox> {
    let Some(address) = address else {
        return Vec::new();
    };
    address
        .iter()
        .map(|addr| Mailbox {
            address: addr.address().and_then(|a| normalize_email(a).ok()),
            name: text::non_empty(addr.name().map(|n| {
                n.trim_matches(|c: char| c == '"' || c.is_whitespace())
                    .to_owned()
            })),
        })
        .filter(|m| m.address.is_some() || m.name.is_some())
        .collect()
}

fn clean_id(raw: &str) -> Option<String> {
    let id = raw
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    (!id.is_empty() && !id.chars().any(char::is_control)).then(|| id.to_owned())
}

fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    let raw: Vec<&str> = match value {
        HeaderValue::Text(text) => text.split_whitespace().collect(),
        HeaderValue::TextList(list) => list.iter().flat_map(|t| t.split_whitespace()).collect(),
        _ => Vec::new(),
    };
    raw.into_iter().filter_map(clean_id).collect()
}

fn auto_signals(message: &Message<'_>) -> AutoSignals {
    let mut signals = AutoSignals::default();
    let raw = message.raw_message();
    for header in message.headers() {
        // Most headers (`Received`, `DKIM-Signature`, …) are none of these; skip them before
        // copying and lower-casing their values.
        let Some(name) = [
            "auto-submitted",
            "precedence",
            "x-autoreply",
            "x-autorespond",
            "x-auto-reply",
            "x-auto-response-suppress",
        ]
        .into_iter()
        .find(|known| header.name().eq_ignore_ascii_case(known)) else {
            continue;
        };
        let start = usize::try_from(header.offset_start).unwrap_or(usize::MAX);
        let end = usize::try_from(header.offset_end).unwrap_or(usize::MAX);
        let value = String::from_utf8_lossy(raw.get(start..end).unwrap_or_default())
            .trim()
            .to_ascii_lowercase();
        let token = value
            .split([';', '(', ' ', '\t', '\r', '\n'])
            .next()
            .unwrap_or_default();
        match name {
            "auto-submitted" => signals.automated |= !token.is_empty() && token != "no",
            "precedence" => {
                signals.automated |= matches!(token, "bulk" | "junk" | "list" | "auto_reply")
            }
            "x-autoreply" | "x-autorespond" | "x-auto-reply" => {
                signals.automated |= token != "no" && token != "false"
            }
            "x-auto-response-suppress" => {
                signals.suppress_all |= value.split(',').any(|v| matches!(v.trim(), "all" | "oof"));
            }
            _ => {}
        }
    }
    signals
}

const AUTO_REPLY_SUBJECT_PREFIXES: [&str; 14] = [
    "automatic reply:",
    "auto:",
    "autoreply",
    "auto-reply",
    "auto reply",
    "automatische antwort",
    "out of office",
    "out of the office",
    "ooo:",
    "abwesenheitsnotiz",
    "réponse automatique",
    "respuesta automática",
    "risposta automatica",
    "automatisch antwoord",
];

fn auto_reply_subject(subject: &str) -> bool {
    let subject = subject.trim_start().to_lowercase();
    AUTO_REPLY_SUBJECT_PREFIXES
        .iter()
        .any(|prefix| subject.starts_with(prefix))
}

/// Builds the interaction of one message, applying the rules in the module docs. A message
/// whose `From` address and `Message-ID` are both unreadable is rejected (`missing_field:from`):
/// nothing would say who wrote it or which thread it belongs to.
pub(crate) fn interaction(
    email: Email,
    delivery: Delivery<'_>,
    ctx: &Context<'_>,
) -> Result<Interaction, AdapterError> {
    let from_address = email.from.as_ref().and_then(|m| m.address.clone());
    if email.message_id.is_none() && from_address.is_none() {
        return Err(AdapterError::missing("from"));
    }
    let source_event_id = email
        .message_id
        .clone()
        .unwrap_or_else(|| (delivery.fallback_id)());
    let own = email.message_id.as_deref();
    let root = email
        .references
        .iter()
        .chain(&email.in_reply_to)
        .find(|id| Some(id.as_str()) != own)
        .map_or(source_event_id.as_str(), String::as_str);
    let conversation_id = format!("email:{root}");

    let is_agent = |address: &str| ctx.tenant.is_agent_email(address);
    let is_placeholder = |address: &str| is_company(ctx, address);
    let outbound = from_address.as_deref().is_some_and(is_agent);
    let (direction, role) = match from_address.as_deref() {
        Some(address) if outbound && (ctx.tenant.is_bot(address) || is_noreply(address)) => {
            (Direction::Outbound, ActorRole::Bot)
        }
        _ if outbound => (Direction::Outbound, ActorRole::Agent),
        _ => (Direction::Inbound, ActorRole::Customer),
    };
    let customer_mailboxes: Vec<&Mailbox> = if outbound {
        email.to.iter().chain(&email.cc).collect()
    } else {
        email.from.iter().chain(&email.reply_to).collect()
    };
    let mut identities: Vec<Identity> = customer_mailboxes
        .into_iter()
        .filter_map(|m| m.address.as_deref())
        .filter(|address| !is_placeholder(address))
        .filter_map(|address| Identity::email(address).ok())
        .collect();
    identities.sort();
    identities.dedup();

    let subject_auto = email.subject.as_deref().is_some_and(auto_reply_subject);
    let auto_reply = email.auto.automated || subject_auto || (!outbound && email.auto.suppress_all);

    let occurred_at = email
        .date
        .or(delivery.received_at)
        .unwrap_or(ctx.received_at);
    let actor_name = email.from.as_ref().and_then(|m| m.name.clone());
    let mut interaction = common::interaction(
        ctx,
        Core {
            source: delivery.source,
            channel: Channel::Email,
            source_event_id: &source_event_id,
            kind: InteractionKind::Message,
            direction,
            actor: common::actor(role, from_address, actor_name),
            conversation_id,
            occurred_at,
        },
    );
    interaction.identities = identities;
    interaction.subject = email.subject;
    interaction.text = text::non_empty(email.body.map(|body| text::strip_quoted(&body)));
    interaction.language = email.language;
    interaction.auto_reply = auto_reply;
    interaction.attachment_count = email
        .attachment_count
        .max(u32::try_from(email.attachment_names.len()).unwrap_or(u32::MAX));
    interaction.attachment_names = email.attachment_names;
    interaction.threading = email.message_id.map(|message_id| {
        super::thread::threading(message_id, email.in_reply_to, email.references)
    });
    Ok(interaction)
}

/// The whole path for a raw MIME message: parse, read, build.
pub(crate) fn normalize_raw(
    raw: &[u8],
    source: Source,
    received_at: Option<Timestamp>,
    ctx: &Context<'_>,
) -> Result<Interaction, AdapterError> {
    let message = parse_message(raw, source.as_str())?;
    let email = read_message(&message);
    interaction(
        email,
        Delivery {
            source,
            fallback_id: &|| fallback_id(source, raw),
            received_at,
        },
        ctx,
    )
}

#[cfg(test)]
mod tests {
    use rapport_model::{IdentityType, Timestamp};

    use super::*;
    use crate::{Limits, TenantConfig};

    fn run(raw: &str) -> Result<Interaction, AdapterError> {
        let tenant = TenantConfig {
            agent_domains: vec!["acme.com".into()],
            ..TenantConfig::default()
        };
        let limits = Limits::default();
        let ctx = Context {
            tenant_id: "acme",
            received_at: Timestamp::from_millis(1_717_243_200_000),
            tenant: &tenant,
            limits: &limits,
            raw_ref: None,
        };
        normalize_raw(raw.as_bytes(), Source::Rfc822, None, &ctx)
    }

    #[test]
    fn references_cycle_never_makes_a_message_its_own_root() {
        let i = run("From: a@example.com\r\nMessage-ID: <own@x>\r\nReferences: <own@x> <root@x>\r\nIn-Reply-To: <own@x>\r\n\r\nhi").unwrap();
        assert_eq!(i.conversation_id, "email:root@x");
        let alone =
            run("From: a@example.com\r\nMessage-ID: <own@x>\r\nReferences: <own@x>\r\n\r\nhi")
                .unwrap();
        assert_eq!(alone.conversation_id, "email:own@x");
    }

    #[test]
    fn in_reply_to_is_the_root_when_references_are_missing() {
        let i = run("From: a@example.com\r\nMessage-ID: <b@x>\r\nIn-Reply-To: <a@x>\r\n\r\nhi")
            .unwrap();
        assert_eq!(i.conversation_id, "email:a@x");
    }

    #[test]
    fn the_interaction_carries_its_threading_headers_within_the_bounds() {
        let refs: Vec<String> = (0..150).map(|n| format!("<r{n}@x>")).collect();
        let i = run(&format!(
            "From: a@example.com\r\nMessage-ID: <own@x>\r\nIn-Reply-To: <r149@x> <r148@x>\r\nReferences: {}\r\n\r\nhi",
            refs.join(" ")
        ))
        .unwrap();
        let t = i
            .threading
            .expect("a message with a Message-ID has threading headers");
        assert_eq!(t.message_id, "own@x");
        assert_eq!(t.in_reply_to, ["r149@x"]);
        assert_eq!(t.references.len(), super::super::thread::MAX_REFERENCES);
        assert_eq!(t.references[0], "r0@x");
        assert_eq!(t.references[1], "r51@x");
        assert_eq!(t.references.last().unwrap(), "r149@x");
        let none = run("From: a@example.com\r\nSubject: x\r\n\r\nhi").unwrap();
        assert_eq!(none.threading, None, "no Message-ID, nothing to thread by");
    }

    #[test]
    fn same_bytes_without_message_id_get_the_same_id() {
        let raw = "From: a@example.com\r\nSubject: x\r\n\r\nhi";
        let (a, b) = (run(raw).unwrap(), run(raw).unwrap());
        assert_eq!(a.source_event_id, b.source_event_id);
        assert_eq!(a.conversation_id, format!("email:{}", a.source_event_id));
        assert_ne!(
            a.source_event_id,
            run("From: a@example.com\r\nSubject: y\r\n\r\nhi")
                .unwrap()
                .source_event_id
        );
    }

    #[test]
    fn suppress_header_marks_inbound_but_not_agent_replies() {
        let inbound = run(
            "From: a@example.com\r\nMessage-ID: <1@x>\r\nX-Auto-Response-Suppress: All\r\n\r\nhi",
        )
        .unwrap();
        assert!(inbound.auto_reply);
        let agent = run("From: ana@acme.com\r\nTo: a@example.com\r\nMessage-ID: <2@x>\r\nX-Auto-Response-Suppress: All\r\n\r\nhi").unwrap();
        assert!(!agent.auto_reply);
        assert!(agent.is_human_reply());
    }

    #[test]
    fn auto_submitted_no_is_a_human_message() {
        let i = run("From: a@example.com\r\nMessage-ID: <1@x>\r\nAuto-Submitted: no\r\n\r\nhi")
            .unwrap();
        assert!(!i.auto_reply);
        let j = run("From: a@example.com\r\nMessage-ID: <1@x>\r\nAuto-Submitted: auto-replied (vacation)\r\n\r\nhi").unwrap();
        assert!(j.auto_reply);
    }

    #[test]
    fn reply_to_joins_identities_unless_it_is_an_agent() {
        let i = run("From: a@example.com\r\nReply-To: b@example.org, help@acme.com\r\nMessage-ID: <1@x>\r\n\r\nhi").unwrap();
        let values: Vec<_> = i
            .identities
            .iter()
            .map(|id| (id.kind, id.value.as_str()))
            .collect();
        assert_eq!(
            values,
            [
                (IdentityType::Email, "a@example.com"),
                (IdentityType::Email, "b@example.org")
            ]
        );
    }

    #[test]
    fn unreadable_sender_and_id_is_rejected_but_either_suffices() {
        assert_eq!(
            run("From: nobody\r\nSubject: x\r\n\r\nhi")
                .unwrap_err()
                .code()
                .to_string(),
            "missing_field:from"
        );
        assert!(run("From: nobody\r\nMessage-ID: <1@x>\r\n\r\nhi").is_ok());
        assert_eq!(
            run("{\"a\": 1}").unwrap_err().code().to_string(),
            "unknown_shape"
        );
    }

    #[test]
    fn html_quotes_are_cut_but_never_everything() {
        let html = "<p>New <b>text</b></p><BLOCKQUOTE type=cite>old<blockquote>older</blockquote>still old</BLOCKQUOTE><p>after</p>";
        assert_eq!(html_text(html), "New text\nafter");
        assert_eq!(
            html_text("<blockquote>only a quote</blockquote>"),
            "only a quote"
        );
        assert_eq!(html_text("<p>a</p><blockquote>unclosed"), "a");
        assert_eq!(html_text("a</blockquote>b"), "ab");
    }

    #[test]
    fn header_block_cannot_be_injected() {
        let block = header_block([
            ("Subject", "a\r\nFrom: evil@x.io"),
            ("Bad Name", "x"),
            ("From", "a@example.com"),
        ]);
        let message = PARSER.parse_headers(&block).unwrap();
        let email = read_headers(&message);
        assert_eq!(
            email.from.and_then(|m| m.address).as_deref(),
            Some("a@example.com")
        );
        assert_eq!(email.subject.as_deref(), Some("a From: evil@x.io"));
    }
}
