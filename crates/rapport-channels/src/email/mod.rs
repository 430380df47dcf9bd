//! email sources.
pub mod rfc822;
pub mod sendgrid;
pub mod mailgun;
pub mod ses;
