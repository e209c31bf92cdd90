//! Credentials (Hub tokens, magic prompt API keys): used in one request header, shown nowhere.

use std::fmt;
use std::marker::PhantomData;

/// What a secret is called in `Debug` output (the value never is).
pub trait SecretKind {
    const NAME: &'static str;
}

/// A non-blank secret string. Deliberately has no `Display` and a redacted `Debug`.
pub struct Secret<K> {
    value: String,
    kind: PhantomData<K>,
}

impl<K> Secret<K> {
    /// `None` for an empty or blank value (an unset secret, as far as anyone means).
    pub fn new(value: impl Into<String>) -> Option<Secret<K>> {
        let value = value.into().trim().to_string();
        (!value.is_empty()).then_some(Secret {
            value,
            kind: PhantomData,
        })
    }

    /// The secret, for the request header only.
    pub(crate) fn expose(&self) -> &str {
        &self.value
    }

    /// `text` with every occurrence of the secret replaced, for texts that quote a server.
    pub(crate) fn redact(&self, text: &str) -> String {
        text.replace(&self.value, "[redacted]")
    }
}

impl<K> Clone for Secret<K> {
    fn clone(&self) -> Self {
        Secret {
            value: self.value.clone(),
            kind: PhantomData,
        }
    }
}

impl<K> PartialEq for Secret<K> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<K> Eq for Secret<K> {}

impl<K: SecretKind> fmt::Debug for Secret<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}([redacted])", K::NAME)
    }
}
