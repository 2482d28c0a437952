//! `#[handler]`: parse the options, check the function, then add `main` and the checks beside it.

mod attr;
mod expand;
mod validate;

use proc_macro2::TokenStream;
use quote::ToTokens;

pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let (options, option_errors) = attr::parse(attr);
    let function = match syn::parse2::<syn::ItemFn>(item.clone()) {
        Ok(function) => function,
        Err(_) => {
            let error = syn::Error::new_spanned(
                &item,
                "`#[lambda_kit::handler]` goes on an `async fn`, such as `async fn handler(event: Event, ctx: Context)`",
            );
            // Keep the item, so that the errors about it stay accurate.
            let mut out = item;
            out.extend(error.to_compile_error());
            return out;
        }
    };
    let shape = validate::check(&function, &options);
    let errors = match (option_errors, shape) {
        (None, Ok(shape)) => return expand::expand(&function, &options, &shape),
        (Some(mut errors), Err(more)) => {
            errors.combine(more);
            errors
        }
        (Some(errors), Ok(_)) | (None, Err(errors)) => errors,
    };
    let mut out = function.to_token_stream();
    out.extend(errors.to_compile_error());
    if options.main {
        // A `main` that does nothing, so that a missing `main` is not reported on top.
        out.extend(quote::quote!(
            fn main() {}
        ));
    }
    out
}
