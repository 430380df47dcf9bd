use std::fmt;

use rlibphonenumber::{PHONE_NUMBER_UTIL, PhoneNumberFormat, enums::Region};
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
    /// Holds the whole input, which is never longer than [`MAX_PHONE_INPUT_CHARS`].
    #[error("not a phone number: {0:?}")]
    InvalidPhone(String),
    #[error("not a phone number: longer than {MAX_PHONE_INPUT_CHARS} characters")]
    PhoneTooLong,
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

/// The longest phone input looked at, in characters, white space included: libphonenumber's own
/// limit (`MAX_INPUT_STRING_LENGTH`), which it applies before parsing, with the same verdict.
pub const MAX_PHONE_INPUT_CHARS: usize = 250;

/// Parses a phone number into E.164, exactly as Google's libphonenumber does: `parse(raw,
/// default_region)`, then `isValidNumber`, then the E.164 format; a parse error or an invalid
/// number is "not a phone" (`tests/phone_oracle.rs` holds us to that).
///
/// A number written with `+` or an international prefix keeps its own country code whatever the
/// default region. Numbers without one need `default_region` (ISO 3166 alpha-2, any case, from
/// tenant config); without one, or with one that is not a region, they are rejected rather than
/// guessed. An input longer than [`MAX_PHONE_INPUT_CHARS`] is refused after looking at no more
/// than that many characters, so a huge field costs nothing.
pub fn normalize_phone(raw: &str, default_region: Option<&str>) -> Result<String, IdentityError> {
    if raw.chars().nth(MAX_PHONE_INPUT_CHARS).is_some() {
        return Err(IdentityError::PhoneTooLong);
    }
    let invalid = || IdentityError::InvalidPhone(raw.to_owned());
    let region = default_region.and_then(|r| Region::from_code(r).ok());
    let number = PHONE_NUMBER_UTIL
        .parse(raw, region)
        .map_err(|_| invalid())?;
    if !number.is_valid() {
        return Err(invalid());
    }
    Ok(number.format_as(PhoneNumberFormat::E164).into_owned())
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
        assert!(normalize_phone("030 901820", Some("ZZ")).is_err());
        assert!(normalize_phone("12", Some("US")).is_err());
    }

    /// The bug that replaced `phonenumber` 0.3: it stripped the *default region's* national
    /// prefix (`1` for US, `0` for DE) from the digits after another country's code, turning a
    /// German mobile into a Hanover landline and Italian or Russian numbers into others.
    #[test]
    fn a_number_with_a_country_code_keeps_it_whatever_the_default_region() {
        for region in [
            None,
            Some("US"),
            Some("DE"),
            Some("GB"),
            Some("it"),
            Some("RU"),
        ] {
            for (raw, e164) in [
                ("+4915112345678", "+4915112345678"),
                ("+39 06 1234 5678", "+390612345678"),
                ("+7 800 555-35-35", "+78005553535"),
                ("+375 800 111111", "+375800111111"),
            ] {
                assert_eq!(
                    normalize_phone(raw, region).as_deref(),
                    Ok(e164),
                    "{raw:?} with default region {region:?}"
                );
            }
        }
    }

    #[test]
    fn the_default_region_is_case_insensitive() {
        assert_eq!(
            normalize_phone("(415) 555-2671", Some("us")),
            normalize_phone("(415) 555-2671", Some("US"))
        );
    }

    /// libphonenumber's limit and verdict: 250 characters, white space included, or "not a
    /// phone". A megabyte is refused after reading 251 characters.
    #[test]
    fn inputs_over_250_characters_are_refused() {
        let at_limit = format!("{:<250}", "+14155552671");
        assert_eq!(
            normalize_phone(&at_limit, None).as_deref(),
            Ok("+14155552671")
        );
        let over = format!("{:<251}", "+14155552671");
        assert_eq!(
            normalize_phone(&over, None),
            Err(IdentityError::PhoneTooLong)
        );
        let huge = format!("+1415555267{}", "1".repeat(1 << 20));
        let error = normalize_phone(&huge, Some("US")).unwrap_err();
        assert_eq!(error, IdentityError::PhoneTooLong);
        assert!(error.to_string().len() < 80, "{error}");
        // The limit counts characters, not bytes.
        let wide = format!("+14155552671{}", "\u{3000}".repeat(238));
        assert_eq!(normalize_phone(&wide, None).as_deref(), Ok("+14155552671"));
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
