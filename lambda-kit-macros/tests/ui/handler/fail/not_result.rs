use lambda_kit::Context;

#[lambda_kit::handler]
async fn handler(id: String, _ctx: Context) -> String {
    id
}
