//! The attribute's options: `crate`, `main`, `setup` and `shutdown`.

use proc_macro2::TokenStream;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Expr, Lit, Meta, Token};

const EXPECTED: &str = "expected `setup`, `shutdown`, `main` or `crate`";

/// The options as written; what could not be read is in the error beside them.
pub(crate) struct Options {
    /// Where `lambda_kit` is (`crate = path`), default `::lambda_kit`.
    pub(crate) krate: syn::Path,
    /// Generate `main` (`main = false` turns it off).
    pub(crate) main: bool,
    /// The once-per-cold-start setup fn (`setup = path`).
    pub(crate) setup: Option<syn::Path>,
    /// The SIGTERM hook (`shutdown = path`).
    pub(crate) shutdown: Option<syn::Path>,
}

/// Reads every option, collecting every mistake rather than stopping at the first.
pub(crate) fn parse(attr: TokenStream) -> (Options, Option<syn::Error>) {
    let mut options = Options {
        krate: syn::parse_quote!(::lambda_kit),
        main: true,
        setup: None,
        shutdown: None,
    };
    let mut errors: Option<syn::Error> = None;
    let mut fail = |error: syn::Error| match &mut errors {
        Some(errors) => errors.combine(error),
        None => errors = Some(error),
    };
    let metas = match Punctuated::<Meta, Token![,]>::parse_terminated.parse2(attr) {
        Ok(metas) => metas,
        Err(error) => {
            fail(syn::Error::new(
                error.span(),
                format!("{error}; options are written `name = value`, {EXPECTED}"),
            ));
            return (options, errors);
        }
    };
    let mut seen: Vec<String> = Vec::new();
    for meta in metas {
        let Meta::NameValue(pair) = &meta else {
            let name = meta
                .path()
                .get_ident()
                .map(ToString::to_string)
                .unwrap_or_default();
            let hint = match name.as_str() {
                "setup" | "shutdown" | "crate" => format!("write it `{name} = path`"),
                "main" => "write it `main = false`".to_owned(),
                _ => EXPECTED.to_owned(),
            };
            fail(syn::Error::new_spanned(
                &meta,
                format!("options are written `name = value`: {hint}"),
            ));
            continue;
        };
        let Some(name) = pair.path.get_ident().map(ToString::to_string) else {
            fail(syn::Error::new_spanned(
                &pair.path,
                format!("unknown option; {EXPECTED}"),
            ));
            continue;
        };
        if seen.contains(&name) {
            fail(syn::Error::new_spanned(
                &pair.path,
                format!("`{name}` is given twice"),
            ));
            continue;
        }
        seen.push(name.clone());
        match name.as_str() {
            "crate" => match path(&pair.value) {
                Some(path) => options.krate = path,
                None => fail(syn::Error::new_spanned(
                    &pair.value,
                    "`crate` takes a path, such as `crate = my_reexports::lambda_kit`",
                )),
            },
            "setup" => match path(&pair.value) {
                Some(path) => options.setup = Some(path),
                None => fail(syn::Error::new_spanned(
                    &pair.value,
                    "`setup` takes the path of an `async fn(Config) -> Result<State, Error>`",
                )),
            },
            "shutdown" => match path(&pair.value) {
                Some(path) => options.shutdown = Some(path),
                None => fail(syn::Error::new_spanned(
                    &pair.value,
                    "`shutdown` takes the path of an `async fn()`",
                )),
            },
            "main" => match &pair.value {
                Expr::Lit(literal) if matches!(literal.lit, Lit::Bool(_)) => {
                    options.main = matches!(&literal.lit, Lit::Bool(value) if value.value);
                }
                other => fail(syn::Error::new_spanned(
                    other,
                    "`main` takes `true` or `false`",
                )),
            },
            _ => fail(syn::Error::new_spanned(
                &pair.path,
                format!("unknown option `{name}`; {EXPECTED}"),
            )),
        }
    }
    (options, errors)
}

fn path(value: &Expr) -> Option<syn::Path> {
    match value {
        Expr::Path(path) if path.qself.is_none() => Some(path.path.clone()),
        _ => None,
    }
}
