use std::fmt;

use serde::{Deserialize, Serialize};

/// What kind of identifier an [`Identity`] is. Source-scoped ids carry the source in their type
/// so that Intercom contact `42` and Zendesk user `42` never meet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityType {
    Email,
    Phone,
    IntercomContact,
    ChatwootContact,
    ZendeskUser,
    FreshdeskContact,
    GoogleReviewer,
    YelpUser,
    TrustpilotConsumer,
    /// The customer id a `generic` payload carries, scoped to the tenant's own system.
    ExternalId,
}

impl IdentityType {
    pub const ALL: [Self; 10] = [
        Self::Email,
        Self::Phone,
        Self::IntercomContact,
        Self::ChatwootContact,
        Self::ZendeskUser,
        Self::FreshdeskContact,
        Self::GoogleReviewer,
        Self::YelpUser,
        Self::TrustpilotConsumer,
        Self::ExternalId,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Phone => "phone",
            Self::IntercomContact => "intercom_contact",
            Self::ChatwootContact => "chatwoot_contact",
            Self::ZendeskUser => "zendesk_user",
            Self::FreshdeskContact => "freshdesk_contact",
            Self::GoogleReviewer => "google_reviewer",
            Self::YelpUser => "yelp_user",
            Self::TrustpilotConsumer => "trustpilot_consumer",
            Self::ExternalId => "external_id",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == text)
    }
}

impl fmt::Display for IdentityType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One identifier of a customer, already normalized (emails lower-cased, phones in E.164).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Identity {
    #[serde(rename = "type")]
    pub kind: IdentityType,
    pub value: String,
}

impl Identity {
    pub fn email(raw: &str) -> Result<Self, IdentityError> {
        Ok(Self {
            kind: IdentityType::Email,
            value: normalize_email(raw)?,
        })
    }

    pub fn phone(raw: &str, default_region: Option<&str>) -> Result<Self, IdentityError> {
        Ok(Self {
            kind: IdentityType::Phone,
            value: normalize_phone(raw, default_region)?,
        })
    }

    /// A source-scoped id; only trimmed, since ids are case-sensitive at most sources.
    pub fn scoped(kind: IdentityType, raw: &str) -> Result<Self, IdentityError> {
        let value = raw.trim();
        if value.is_empty() {
            return Err(IdentityError::Empty(kind));
        }
        Ok(Self {
            kind,
            value: value.to_owned(),
        })
    }

    /// `type:value`, the form operators type on the command line (`email:maria@example.com`).
    pub fn to_key(&self) -> String {
        format!("{}:{}", self.kind, self.value)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("empty {0} identifier")]
    Empty(IdentityType),
    #[error("not an email address: {0:?}")]
    InvalidEmail(String),
    #[error("not a phone number: {0:?}")]
    InvalidPhone(String),
}

/// Lower-cases and trims an address, dropping a display name or angle brackets around it.
///
/// The whole address is lower-cased: RFC 5321 lets the local part be case-sensitive, but no
/// mainstream provider treats it so, and two rows for `Maria@` and `maria@` would split a person.
pub fn normalize_email(raw: &str) -> Result<String, IdentityError> {
    let mut text = raw.trim();
    if let (Some(open), Some(close)) = (text.rfind('<'), text.rfind('>'))
        && open < close
    {
        text = text[open + 1..close].trim();
    }
    let text = text.strip_prefix("mailto:").unwrap_or(text);
    let invalid = || IdentityError::InvalidEmail(raw.to_owned());
    let (local, domain) = text.rsplit_once('@').ok_or_else(invalid)?;
    let valid = !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !text
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == ',' || c == ';')
        && !domain.contains('@');
    if !valid {
        return Err(invalid());
    }
    Ok(text.to_lowercase())
}

/// Parses a phone number into E.164. Numbers without a `+` country code need `default_region`
/// (ISO 3166 alpha-2, from tenant config); without one they are rejected rather than guessed.
pub fn normalize_phone(raw: &str, default_region: Option<&str>) -> Result<String, IdentityError> {
    let invalid = || IdentityError::InvalidPhone(raw.to_owned());
    let region = default_region.and_then(|r| r.to_ascii_uppercase().parse().ok());
    let number = phonenumber::parse(region, raw.trim()).map_err(|_| invalid())?;
    if !phonenumber::is_valid(&number) {
        return Err(invalid());
    }
    Ok(number.format().mode(phonenumber::Mode::E164).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_trimmed_lowercased_and_unwrapped() {
        assert_eq!(
            normalize_email("  Maria.Lopez@Example.COM ").unwrap(),
            "maria.lopez@example.com"
        );
        assert_eq!(
            normalize_email("Maria <Maria@Example.com>").unwrap(),
            "maria@example.com"
        );
        assert_eq!(normalize_email("mailto:a@b.io").unwrap(), "a@b.io");
    }

    #[test]
    fn malformed_emails_are_rejected() {
        for bad in [
            "",
            "maria",
            "@example.com",
            "maria@",
            "maria@localhost",
            "a b@c.de",
            "a@b.c,d@e.f",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn phones_become_e164() {
        assert_eq!(
            normalize_phone("+1 (415) 555-2671", None).unwrap(),
            "+14155552671"
        );
        assert_eq!(
            normalize_phone("030 901820", Some("de")).unwrap(),
            "+4930901820"
        );
    }

    #[test]
    fn national_phone_without_region_is_rejected() {
        assert!(normalize_phone("030 901820", None).is_err());
        assert!(normalize_phone("12", Some("US")).is_err());
    }

    #[test]
    fn identity_type_names_round_trip() {
        for t in IdentityType::ALL {
            assert_eq!(IdentityType::parse(t.as_str()), Some(t));
            assert_eq!(
                serde_json::to_string(&t).unwrap(),
                format!("\"{}\"", t.as_str())
            );
        }
    }
}
