//! Email sources: raw RFC 5322 messages and the three inbound-mail webhooks (SendGrid Inbound
//! Parse, Mailgun routes, Amazon SES receipt notifications via SNS).
//!
//! Every route ends in [`mime`], so threading, direction, identities and auto-reply detection are
//! the same whichever way a message arrived, and one thread that reaches us through SendGrid and
//! through SES lands in one conversation (`email:<thread root Message-ID>`).
mod form;
pub(crate) mod mime;

pub mod mailgun;
pub mod rfc822;
pub mod sendgrid;
pub mod ses;
pub mod thread;
