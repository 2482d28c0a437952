//! Emits the function as written, the trait checks beside it, and `main`.

use proc_macro2::{Group, Ident, Span, TokenStream, TokenTree};
use quote::quote;
use syn::ItemFn;
use syn::spanned::Spanned;

use super::attr::Options;
use super::validate::Shape;

pub(crate) fn expand(function: &ItemFn, options: &Options, shape: &Shape) -> TokenStream {
    let krate = &options.krate;
    let Shape {
        event,
        state,
        response,
        error,
        ..
    } = shape;

    // Each check is a call spanned, token by token, at the user's own token, so that what is
    // missing is reported there with the fix. (Where `main` passes the handler on, a missing
    // trait is also reported once more, as "not a Lambda handler", at the attribute.)
    let mut checks = vec![
        respan(
            quote!(#krate::__private::assert_event::<#event>();),
            event.span(),
        ),
        respan(
            quote!(#krate::__private::assert_response::<#response>();),
            response.span(),
        ),
        respan(
            quote!(#krate::__private::assert_error::<#error>();),
            error.span(),
        ),
    ];
    let main = if options.main {
        // `main` passes `setup` and `shutdown` on, which checks them at their own tokens.
        main(function, options, shape)
    } else {
        if let (Some(setup), Some(state)) = (&options.setup, state) {
            checks.push(respan(
                quote!(#krate::__private::assert_setup::<_, _, #state, _>(&#setup);),
                setup.span(),
            ));
        }
        if let Some(shutdown) = &options.shutdown {
            checks.push(respan(
                quote!(#krate::__private::assert_shutdown(&#shutdown);),
                shutdown.span(),
            ));
        }
        TokenStream::new()
    };

    quote! {
        #function

        const _: () = {
            #[allow(dead_code)]
            fn __lambda_kit_checks() {
                #(#checks)*
            }
        };

        #main
    }
}

/// `main`: the Lambda environment, the options, and the handler, adapted to the shape the
/// runtime takes (`(event, Context[, &State])`) when the user's fn leaves `Context` out.
fn main(function: &ItemFn, options: &Options, shape: &Shape) -> TokenStream {
    let krate = &options.krate;
    let name = &function.sig.ident;
    let handler = Ident::new("__lambda_kit_handler", Span::mixed_site());
    let event_arg = Ident::new("__lambda_kit_event", Span::mixed_site());
    let state_arg = Ident::new("__lambda_kit_state", Span::mixed_site());
    let runtime = Ident::new("__lambda_kit_runtime", Span::mixed_site());
    let event = &shape.event;
    let handler_value = match (shape.context, &shape.state) {
        (true, _) => quote!(#name),
        (false, None) => quote!(|#event_arg: #event, _: #krate::Context| #name(#event_arg)),
        (false, Some(state)) => quote!(
            |#event_arg: #event, _: #krate::Context, #state_arg: &'static #state| #name(#event_arg, #state_arg)
        ),
    };
    let shutdown = options
        .shutdown
        .as_ref()
        .map(|shutdown| quote!(.on_shutdown(#shutdown)));
    let run = match &options.setup {
        Some(setup) => quote!(.run_with_state(#setup, #handler)),
        None => quote!(.run(#handler)),
    };
    quote! {
        fn main() -> ::std::process::ExitCode {
            let #handler = #handler_value;
            #krate::__private::exit(
                #krate::Runtime::from_env().and_then(|#runtime| #runtime #shutdown #run),
            )
        }
    }
}

/// `tokens` with every span set to `span`, groups included.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|token| match token {
            TokenTree::Group(group) => {
                let mut respanned = Group::new(group.delimiter(), respan(group.stream(), span));
                respanned.set_span(span);
                TokenTree::Group(respanned)
            }
            mut other => {
                other.set_span(span);
                other
            }
        })
        .collect()
}
