//! `examples/s3-thumbnail`: an S3 upload makes a thumbnail, a DynamoDB item and an SNS
//! message; an object that is not an image is rejected, and reported the same ways.

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::FilterRuleName;
use serde_json::{Value, json};

use super::{allows, deploy, role_statements, serve};
use crate::moto::{ACCOUNT, Moto, REGION};
use crate::support::wait_until;

/// A real RGB PNG of `width`×`height`, a gradient, written by hand: signature, `IHDR`, one
/// zlib-compressed `IDAT` of unfiltered rows, `IEND`.
pub(super) fn png(width: u32, height: u32) -> Vec<u8> {
    fn chunk(png: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        png.extend_from_slice(&u32::try_from(data.len()).unwrap().to_be_bytes());
        png.extend_from_slice(kind);
        png.extend_from_slice(data);
        let mut crc = crc32fast::Hasher::new();
        crc.update(kind);
        crc.update(data);
        png.extend_from_slice(&crc.finalize().to_be_bytes());
    }
    let mut header = Vec::new();
    header.extend_from_slice(&width.to_be_bytes());
    header.extend_from_slice(&height.to_be_bytes());
    // 8 bits a channel, colour type 2 (RGB), deflate, no filter method, no interlacing.
    header.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut rows = Vec::new();
    for y in 0..height {
        rows.push(0); // filter type None
        for x in 0..width {
            rows.extend_from_slice(&[(x % 256) as u8, (y % 256) as u8, 200]);
        }
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut png, b"IHDR", &header);
    chunk(
        &mut png,
        b"IDAT",
        &miniz_oxide::deflate::compress_to_vec_zlib(&rows, 6),
    );
    chunk(&mut png, b"IEND", &[]);
    png
}

/// A PNG's width and height, from its `IHDR` chunk, the first after the signature.
fn png_dimensions(png: &[u8]) -> (u32, u32) {
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    assert_eq!(&png[12..16], b"IHDR");
    let number = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    (number(16), number(20))
}

/// The one SNS notification the function sends for an upload, once it is on the queue (and
/// taken off it): the function ran, and finished.
fn announced(moto: &Moto, queue_url: &str) -> Value {
    let mut news = Vec::new();
    wait_until("the function's SNS notification", || {
        news.extend(drain(moto, queue_url));
        !news.is_empty()
    });
    let [news] = <[Value; 1]>::try_from(news).unwrap_or_else(|news| panic!("one: {news:?}"));
    news
}

/// Receives the queue's messages until it has none left, deleting them: the SNS
/// notifications (their JSON envelope) delivered to it.
fn drain(moto: &Moto, queue_url: &str) -> Vec<Value> {
    let mut messages = Vec::new();
    loop {
        let received = moto.aws(&[
            "sqs",
            "receive-message",
            "--queue-url",
            queue_url,
            "--max-number-of-messages",
            "10",
        ]);
        let received: Value = serde_json::from_str(&received).unwrap_or(Value::Null);
        let Some(batch) = received["Messages"].as_array().filter(|m| !m.is_empty()) else {
            return messages;
        };
        for message in batch {
            moto.aws(&[
                "sqs",
                "delete-message",
                "--queue-url",
                queue_url,
                "--receipt-handle",
                message["ReceiptHandle"].as_str().unwrap(),
            ]);
            messages.push(serde_json::from_str(message["Body"].as_str().unwrap()).unwrap());
        }
    }
}

#[tokio::test]
async fn s3_thumbnail_makes_a_thumbnail_records_it_and_reports_what_it_rejects() {
    let Some(moto) = Moto::start() else { return };
    // What the function reads and writes; deploy only connects the uploads bucket to it.
    for bucket in ["uploads", "thumbnails"] {
        moto.create_bucket(bucket);
    }
    moto.create_table("images", "key", &[]);
    let topic: Value =
        serde_json::from_str(&moto.aws(&["sns", "create-topic", "--name", "thumbnails"])).unwrap();
    let topic = topic["TopicArn"].as_str().unwrap().to_owned();
    assert_eq!(topic, format!("arn:aws:sns:{REGION}:{ACCOUNT}:thumbnails"));
    // A queue subscribed to the topic, to read the notifications back.
    let queue: Value =
        serde_json::from_str(&moto.aws(&["sqs", "create-queue", "--queue-name", "news"])).unwrap();
    let queue_url = queue["QueueUrl"].as_str().unwrap().to_owned();
    moto.aws(&[
        "sns",
        "subscribe",
        "--topic-arn",
        &topic,
        "--protocol",
        "sqs",
        "--notification-endpoint",
        &format!("arn:aws:sqs:{REGION}:{ACCOUNT}:news"),
    ]);

    deploy(&moto, "s3-thumbnail");
    let config = moto.config().await;
    let s3 = moto.s3().await;
    let notifications = s3
        .get_bucket_notification_configuration()
        .bucket("uploads")
        .send()
        .await
        .unwrap();
    let [trigger] = notifications.lambda_function_configurations() else {
        panic!("one notification to the function: {notifications:?}");
    };
    assert_eq!(
        trigger.lambda_function_arn(),
        format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:s3-thumbnail")
    );
    assert_eq!(
        trigger
            .events()
            .iter()
            .map(|e| e.as_str())
            .collect::<Vec<_>>(),
        ["s3:ObjectCreated:*"]
    );
    let rules = trigger.filter().unwrap().key().unwrap().filter_rules();
    assert_eq!(rules.len(), 1, "{rules:?}");
    assert_eq!(rules[0].name(), Some(&FilterRuleName::Prefix));
    assert_eq!(rules[0].value(), Some("images/"));

    // The role reads uploads and writes what the function writes, as the settings grant.
    let statements = role_statements(&moto, "s3-thumbnail").await;
    for (action, resource) in [
        ("s3:GetObject", "arn:aws:s3:::uploads/images/*"),
        ("s3:PutObject", "arn:aws:s3:::thumbnails/*"),
        ("dynamodb:PutItem", "arn:aws:dynamodb:*:*:table/images"),
        ("sns:Publish", "arn:aws:sns:*:*:thumbnails"),
    ] {
        assert!(allows(&statements, action, resource), "{statements:#?}");
    }

    // serve watches the bucket, as S3's notification would call the function.
    let serve = serve(&moto, "s3-thumbnail", &["--event-sources"]);
    serve.output_with(&["`s3-thumbnail` watches the S3 bucket `uploads`"]);

    // An upload, with a space in its key that the event carries URL-encoded.
    let image = png(640, 480);
    s3.put_object()
        .bucket("uploads")
        .key("images/red panda.png")
        .body(ByteStream::from(image.clone()))
        .send()
        .await
        .unwrap();
    let ready = json!({
        "status": "ready",
        "bucket": "uploads",
        "key": "images/red panda.png",
        "size": image.len(),
        "width": 640,
        "height": 480,
        "thumbnail_bucket": "thumbnails",
        "thumbnail_key": "images/red panda.png.thumbnail.png",
        "thumbnail_width": 128,
        "thumbnail_height": 96,
    });
    let news = announced(&moto, &queue_url);
    assert_eq!(news["TopicArn"], topic.as_str());
    assert_eq!(news["Subject"], "Thumbnail ready");
    assert_eq!(news["MessageAttributes"]["status"]["Value"], "ready");
    let message: Value = serde_json::from_str(news["Message"].as_str().unwrap()).unwrap();
    assert_eq!(message, ready);
    let thumbnail = s3
        .get_object()
        .bucket("thumbnails")
        .key("images/red panda.png.thumbnail.png")
        .send()
        .await
        .unwrap();
    assert_eq!(thumbnail.content_type(), Some("image/png"));
    let thumbnail = thumbnail.body.collect().await.unwrap().into_bytes();
    assert_eq!(png_dimensions(&thumbnail), (128, 96));

    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let item = |key: &str| {
        let request = dynamodb
            .get_item()
            .table_name("images")
            .key("key", AttributeValue::S(key.to_owned()))
            .send();
        async move { request.await.unwrap().item.unwrap() }
    };
    let stored = item("images/red panda.png").await;
    let text = |value: &str| AttributeValue::S(value.to_owned());
    let number = |value: usize| AttributeValue::N(value.to_string());
    assert_eq!(stored["status"], text("ready"));
    assert_eq!(stored["size"], number(image.len()));
    assert_eq!(stored["width"], number(640));
    assert_eq!(stored["height"], number(480));
    assert_eq!(stored["thumbnail_width"], number(128));
    assert_eq!(stored["thumbnail_height"], number(96));
    assert_eq!(
        stored["thumbnail_key"],
        text("images/red panda.png.thumbnail.png")
    );

    // Not an image: rejected, recorded and announced, and the invocation succeeds, so that
    // Lambda does not retry what cannot work. The upload itself stays where it is.
    let notes = b"shopping: bamboo, more bamboo";
    s3.put_object()
        .bucket("uploads")
        .key("images/notes.png")
        .body(ByteStream::from_static(notes))
        .send()
        .await
        .unwrap();
    let rejected = json!({
        "status": "rejected",
        "bucket": "uploads",
        "key": "images/notes.png",
        "size": notes.len(),
        "reason": "NotAnImage",
        "message": "not a PNG or JPEG image",
    });
    let news = announced(&moto, &queue_url);
    assert_eq!(news["MessageAttributes"]["status"]["Value"], "rejected");
    let message: Value = serde_json::from_str(news["Message"].as_str().unwrap()).unwrap();
    assert_eq!(message, rejected);
    let stored = item("images/notes.png").await;
    assert_eq!(stored["status"], text("rejected"));
    assert_eq!(stored["reason"], text("NotAnImage"));
    let thumbnails = s3
        .list_objects_v2()
        .bucket("thumbnails")
        .send()
        .await
        .unwrap();
    assert_eq!(thumbnails.key_count(), Some(1), "{thumbnails:?}");
    let upload = s3
        .head_object()
        .bucket("uploads")
        .key("images/notes.png")
        .send()
        .await
        .unwrap();
    assert_eq!(upload.content_length(), Some(notes.len() as i64));
}
