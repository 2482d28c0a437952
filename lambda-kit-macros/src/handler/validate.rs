//! Checks the function's signature, and names the fix for every mistake it finds.

use syn::spanned::Spanned;
use syn::{FnArg, GenericArgument, ItemFn, PathArguments, ReturnType, Type};

use super::attr::Options;

/// What the signature says: the types the generated code names.
pub(crate) struct Shape {
    pub(crate) event: Type,
    pub(crate) context: bool,
    /// The `State` of a `&State` argument.
    pub(crate) state: Option<Type>,
    pub(crate) response: Type,
    pub(crate) error: Type,
}

/// What an argument is, judged by its type.
enum Argument {
    Context,
    State(Type),
    MutableState,
    Other(Type),
}

/// Checks `function` against `options`; every mistake is reported, combined into one error.
pub(crate) fn check(function: &ItemFn, options: &Options) -> syn::Result<Shape> {
    let mut errors: Option<syn::Error> = None;
    let mut fail = |error: syn::Error| match &mut errors {
        Some(errors) => errors.combine(error),
        None => errors = Some(error),
    };
    let sig = &function.sig;
    if sig.asyncness.is_none() {
        fail(syn::Error::new_spanned(
            sig.fn_token,
            "a Lambda handler must be an `async fn`: add `async` before `fn`",
        ));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        fail(syn::Error::new_spanned(
            &sig.generics,
            "a Lambda handler cannot be generic: name the event and response types",
        ));
    }

    let mut event = None;
    let mut context = false;
    let mut state = None;
    // Positions count typed arguments only, so a stray `self` does not shift the others.
    let mut position = 0;
    for input in &sig.inputs {
        let ty = match input {
            FnArg::Receiver(receiver) => {
                fail(syn::Error::new_spanned(
                    receiver,
                    "a Lambda handler is a free function, not a method: remove `self`",
                ));
                continue;
            }
            FnArg::Typed(typed) => &*typed.ty,
        };
        position += 1;
        match (position - 1, classify(ty)) {
            (_, Argument::MutableState) => fail(syn::Error::new_spanned(
                ty,
                "the state is shared by every invocation: take `&State`; for what changes, use a `Mutex` or an atomic inside it",
            )),
            (0, Argument::Other(ty)) => event = Some(ty),
            (0, Argument::Context) => fail(syn::Error::new_spanned(
                ty,
                "the event comes first, then `Context`: `async fn handler(event: Event, ctx: Context)`",
            )),
            (0, Argument::State(_)) => fail(syn::Error::new_spanned(
                ty,
                "the event comes first, and the `&State` last: `async fn handler(event: Event, ctx: Context, state: &State)`",
            )),
            (1, Argument::Context) => context = true,
            (1 | 2, Argument::State(ty)) if state.is_none() => state = Some(ty),
            (1, Argument::Other(_)) => fail(syn::Error::new_spanned(
                ty,
                "a handler takes one event: its second argument is `lambda_kit::Context` (or `&State`, with `setup`)",
            )),
            (2, Argument::Context) if !context => fail(syn::Error::new_spanned(
                ty,
                "`Context` comes second, before `&State`",
            )),
            _ => fail(syn::Error::new_spanned(
                ty,
                "unexpected argument: a handler takes `(event, Context, &State)`, in that order, the last two optional",
            )),
        }
    }
    if position == 0 {
        fail(syn::Error::new(
            sig.paren_token.span.join(),
            "a handler takes the event as its first argument, such as `event: serde_json::Value`",
        ));
    }
    match (&state, &options.setup) {
        (Some(ty), None) => fail(syn::Error::new_spanned(
            ty,
            "a `&State` argument needs a setup fn that builds the state: `#[lambda_kit::handler(setup = my_setup)]`",
        )),
        (None, Some(setup)) => fail(syn::Error::new_spanned(
            setup,
            "the handler takes no state: add a last argument `&State` for what `setup` builds, or remove `setup`",
        )),
        _ => {}
    }

    let result = match &sig.output {
        ReturnType::Default => {
            fail(syn::Error::new(
                sig.paren_token.span.close(),
                "a handler returns `Result<Response, Error>`: add `-> Result<Response, Error>`",
            ));
            None
        }
        ReturnType::Type(_, ty) => {
            let split = result_types(ty);
            if split.is_none() {
                fail(syn::Error::new_spanned(
                    ty,
                    "a handler returns `Result<Response, Error>`; return `Ok(value)`, with `std::convert::Infallible` as the error when nothing fails",
                ));
            }
            split
        }
    };

    match (errors, event, result) {
        (None, Some(event), Some((response, error))) => Ok(Shape {
            event,
            context,
            state,
            response,
            error,
        }),
        (Some(errors), _, _) => Err(errors),
        // Without an error, an event and a result were both found.
        (None, _, _) => Err(syn::Error::new(
            sig.span(),
            "a handler's signature could not be read",
        )),
    }
}

fn classify(ty: &Type) -> Argument {
    match ty {
        Type::Reference(reference) if reference.mutability.is_some() => Argument::MutableState,
        Type::Reference(reference) => Argument::State((*reference.elem).clone()),
        Type::Path(path)
            if path.qself.is_none()
                && path
                    .path
                    .segments
                    .last()
                    .is_some_and(|last| last.ident == "Context") =>
        {
            Argument::Context
        }
        other => Argument::Other(other.clone()),
    }
}

/// `Result<R, E>` (by its last path segment) into `R` and `E`.
fn result_types(ty: &Type) -> Option<(Type, Type)> {
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?;
    if last.ident != "Result" {
        return None;
    }
    let PathArguments::AngleBracketed(arguments) = &last.arguments else {
        return None;
    };
    let mut types = arguments.args.iter().filter_map(|argument| match argument {
        GenericArgument::Type(ty) => Some(ty.clone()),
        _ => None,
    });
    match (types.next(), types.next(), types.next()) {
        (Some(response), Some(error), None) => Some((response, error)),
        _ => None,
    }
}
