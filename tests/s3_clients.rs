//! Real clients against real members: access control on `/v1`, and the S3
//! API through boto3 and the aws cli (installed by `.ci/run`; where they
//! are missing the tests say so and skip, unless
//! `STRIPECAST_REQUIRE_CLIENTS=1`, which `.ci/run` sets).

mod common;

use std::process::Command;
use std::time::Duration;

use common::{have, pattern, Cluster, Opts};

const ROOT_ID: &str = "ROOTTESTKEY";
const ROOT_SECRET: &str = "root-test-secret-0123456789";

fn secured(n: usize) -> Cluster {
    Cluster::start_with(
        n,
        Opts {
            s3: true,
            auth: Some((ROOT_ID.into(), ROOT_SECRET.into())),
            ..Opts::default()
        },
    )
}

fn root_bearer() -> String {
    format!("Bearer {ROOT_ID}:{ROOT_SECRET}")
}

/// `METHOD url` with an optional Authorization header and body: (status, body).
fn call(method: &str, url: &str, auth: Option<&str>, body: Option<&[u8]>) -> (u16, String) {
    let mut req = ureq::request(method, url).timeout(Duration::from_secs(60));
    if let Some(a) = auth {
        req = req.set("Authorization", a);
    }
    let r = match body {
        Some(b) => req.send_bytes(b),
        None => req.call(),
    };
    match r {
        Ok(resp) => (resp.status(), resp.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(code, resp)) => (code, resp.into_string().unwrap_or_default()),
        Err(e) => panic!("{method} {url}: {e}"),
    }
}

fn json_call(method: &str, url: &str, auth: &str, body: &str) -> (u16, String) {
    match ureq::request(method, url)
        .set("Authorization", auth)
        .set("Content-Type", "application/json")
        .send_string(body)
    {
        Ok(resp) => (resp.status(), resp.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(code, resp)) => (code, resp.into_string().unwrap_or_default()),
        Err(e) => panic!("{method} {url}: {e}"),
    }
}

/// A key made through member `i`: (access key id, secret).
fn make_key(c: &Cluster, i: usize, name: &str) -> (String, String) {
    let (status, body) = json_call(
        "POST",
        &format!("{}/v1/keys", c.url(i)),
        &root_bearer(),
        &format!("{{\"name\":\"{name}\"}}"),
    );
    assert_eq!(status, 201, "{body}");
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    (
        doc["access_key_id"].as_str().unwrap().to_string(),
        doc["secret_access_key"].as_str().unwrap().to_string(),
    )
}

fn grant(c: &Cluster, bucket: &str, key: &str, read: bool, write: bool) {
    let (status, body) = json_call(
        "PUT",
        &format!("{}/v1/buckets/{bucket}/grants/{key}", c.url(0)),
        &root_bearer(),
        &format!("{{\"read\":{read},\"write\":{write}}}"),
    );
    assert_eq!(status, 204, "{body}");
}

#[test]
fn v1_needs_keys_and_grants_and_refusals_change_nothing() {
    let mut c = secured(3);
    let base = c.url(0);
    let object = |name: &str| format!("{base}/v1/objects/{name}");
    // The bucket and two keys: one may write, one may only read.
    assert_eq!(
        call(
            "PUT",
            &format!("{base}/v1/buckets/media"),
            Some(&root_bearer()),
            None
        )
        .0,
        201
    );
    let (writer_id, writer_secret) = make_key(&c, 1, "writer");
    let (reader_id, reader_secret) = make_key(&c, 2, "reader");
    grant(&c, "media", "writer", true, true);
    grant(&c, "media", "reader", true, false);
    let writer = format!("Bearer {writer_id}:{writer_secret}");
    let reader = format!("Bearer {reader_id}:{reader_secret}");
    let wrong = format!("Bearer {writer_id}:not-the-secret");
    let data = pattern(100_000, 1);

    // Through every member: the key was made on members 1 and 2, used on 0..3.
    for i in 0..3 {
        let url = format!("{}/v1/objects/media/v{i}.ts", c.url(i));
        assert_eq!(
            call("PUT", &url, None, Some(&data)).0,
            401,
            "anonymous write"
        );
        assert_eq!(
            call("PUT", &url, Some(&wrong), Some(&data)).0,
            403,
            "wrong secret"
        );
        assert_eq!(
            call("PUT", &url, Some(&reader), Some(&data)).0,
            403,
            "read-only key"
        );
        assert_eq!(
            call("GET", &url, Some(&writer), None).0,
            404,
            "nothing was stored"
        );
        assert_eq!(call("PUT", &url, Some(&writer), Some(&data)).0, 201);
        let (status, _) = call("GET", &url, Some(&reader), None);
        assert_eq!(status, 200);
        assert_eq!(call("GET", &url, None, None).0, 401, "private bucket");
        assert_eq!(call("DELETE", &url, Some(&reader), None).0, 403);
        assert_eq!(call("DELETE", &url, None, None).0, 401);
    }
    // Still there, byte-exact.
    let got = ureq::get(&object("media/v0.ts"))
        .set("Authorization", &reader)
        .call()
        .unwrap();
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut got.into_reader(), &mut bytes).unwrap();
    assert_eq!(bytes, data);
    // Encoded paths are authorised as the router sees them (%6F is 'o').
    for path in [
        "/v1/%6Fbjects/media/v0.ts",
        "/v1/%6Fbjects",
        "/v1/%6Beys",
        "/v1/%62uckets",
    ] {
        assert_eq!(
            call("GET", &format!("{base}{path}"), None, None).0,
            401,
            "{path}"
        );
    }
    // A name outside any bucket needs an admin key.
    assert_eq!(
        call("PUT", &object("loose"), Some(&writer), Some(b"x")).0,
        403
    );
    assert_eq!(
        call("PUT", &object("loose"), Some(&root_bearer()), Some(b"x")).0,
        201
    );

    // Operations on the cluster: admin only, refused ones do nothing.
    for (method, path) in [
        ("POST", "/v1/scrub"),
        ("PUT", "/v1/faults/1"),
        ("GET", "/v1/objects"),
        ("GET", "/v1/keys"),
        ("DELETE", "/v1/buckets/media"),
    ] {
        let url = format!("{base}{path}");
        assert_eq!(
            call(method, &url, None, Some(b"{}")).0,
            401,
            "{method} {path}"
        );
        assert_eq!(
            call(method, &url, Some(&writer), Some(b"{}")).0,
            403,
            "{method} {path}"
        );
    }
    let (status, faults) = call(
        "GET",
        &format!("{base}/v1/faults"),
        Some(&root_bearer()),
        None,
    );
    assert_eq!(status, 200);
    assert!(!faults.contains("\"drop"), "no fault was set: {faults}");
    // Reads of the cluster's state stay open.
    assert_eq!(
        call("GET", &format!("{base}/v1/cluster"), None, None).0,
        200
    );
    assert_eq!(call("GET", &format!("{base}/metrics"), None, None).0, 200);

    // A public-read bucket serves anonymous GETs (with Range), never writes.
    let (status, body) = json_call(
        "PUT",
        &format!("{base}/v1/buckets/media/public-read"),
        &root_bearer(),
        "{\"public_read\":true}",
    );
    assert_eq!(status, 204, "{body}");
    let r = ureq::get(&object("media/v1.ts"))
        .set("Range", "bytes=10-19")
        .call()
        .unwrap();
    assert_eq!(r.status(), 206);
    let mut part = Vec::new();
    std::io::Read::read_to_end(&mut r.into_reader(), &mut part).unwrap();
    assert_eq!(part, &data[10..20]);
    assert_eq!(call("PUT", &object("media/v1.ts"), None, Some(b"x")).0, 401);

    // A deleted key is refused on every member as soon as that member has
    // applied the deletion (the member that took it: at once; the others
    // within the round trip that carries the commit to them).
    assert_eq!(
        call(
            "DELETE",
            &format!("{base}/v1/keys/writer"),
            Some(&root_bearer()),
            None
        )
        .0,
        204
    );
    let url = format!("{base}/v1/objects/media/after");
    assert_eq!(call("PUT", &url, Some(&writer), Some(b"x")).0, 403);
    for i in 0..3 {
        let url = format!("{}/v1/objects/media/after-{i}", c.url(i));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let status = call("PUT", &url, Some(&writer), Some(b"x")).0;
            if status == 403 {
                break;
            }
            assert_eq!(status, 201, "member {i}");
            assert!(
                std::time::Instant::now() < deadline,
                "member {i} still takes a deleted key"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    // A bucket with objects is not deleted.
    assert_eq!(
        call(
            "DELETE",
            &format!("{base}/v1/buckets/media"),
            Some(&root_bearer()),
            None
        )
        .0,
        409
    );
    // The key made through member 2 outlives member 2 (it is in the log):
    // a private bucket read with it through the others.
    let (status, body) = json_call(
        "PUT",
        &format!("{base}/v1/buckets/media/public-read"),
        &root_bearer(),
        "{\"public_read\":false}",
    );
    assert_eq!(status, 204, "{body}");
    c.kill(2);
    for i in 0..2 {
        let url = format!("{}/v1/objects/media/v1.ts", c.url(i));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let status = call("GET", &url, None, None).0;
            if status == 401 {
                break;
            }
            assert_eq!(status, 200, "member {i}");
            assert!(std::time::Instant::now() < deadline, "private again");
            std::thread::sleep(Duration::from_millis(20));
        }
        let r = ureq::get(&url)
            .set("Authorization", &reader)
            .call()
            .unwrap();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut r.into_reader(), &mut bytes).unwrap();
        assert_eq!(bytes, data, "through member {i} with member 2 down");
    }
}

const BOTO3_SCRIPT: &str = r#"
import hashlib, io, json, sys, urllib.request, urllib.error
import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

endpoint, key_id, secret, other_id, other_secret = sys.argv[1:6]
def client(kid=key_id, sec=secret, ep=endpoint, sig=None):
    return boto3.client("s3", endpoint_url=ep, aws_access_key_id=kid, aws_secret_access_key=sec,
                        region_name="us-east-1", config=Config(retries={"max_attempts": 2}, signature_version=sig))
s3 = client()
s3v4 = client(sig="s3v4")
out = {}

def code(fn):
    try:
        fn()
        return "ok"
    except ClientError as e:
        return e.response["Error"]["Code"]

s3.create_bucket(Bucket="films")
body = bytes((i * 7 + 3) % 256 for i in range(300_000))
r = s3.put_object(Bucket="films", Key="trailer.ts", Body=body, ContentType="video/mp2t",
                  Metadata={"director": "nobody"})
out["etag_is_md5"] = r["ETag"].strip('"') == hashlib.md5(body).hexdigest()
g = s3.get_object(Bucket="films", Key="trailer.ts", Range="bytes=1000-1999")
out["range_ok"] = g["Body"].read() == body[1000:2000] and g["ContentRange"] == "bytes 1000-1999/300000"
h = s3.head_object(Bucket="films", Key="trailer.ts")
out["head_ok"] = h["ContentLength"] == 300000 and h["ContentType"] == "video/mp2t" and h["Metadata"] == {"director": "nobody"}
out["whole_ok"] = s3.get_object(Bucket="films", Key="trailer.ts")["Body"].read() == body
out["if_none_match"] = code(lambda: s3.get_object(Bucket="films", Key="trailer.ts", IfNoneMatch=r["ETag"]))
out["if_match_wrong"] = code(lambda: s3.get_object(Bucket="films", Key="trailer.ts", IfMatch='"0000"'))
out["bad_range"] = code(lambda: s3.get_object(Bucket="films", Key="trailer.ts", Range="bytes=400000-"))

# Multipart, by the transfer manager (default checksums of this SDK).
from boto3.s3.transfer import TransferConfig
big = bytes((i * 13 + 1) % 251 for i in range(12 * 1024 * 1024 + 123))
s3.upload_fileobj(io.BytesIO(big), "films", "big/feature.ts",
                  Config=TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024))
buf = io.BytesIO()
s3.download_fileobj("films", "big/feature.ts", buf)
out["multipart_ok"] = buf.getvalue() == big
out["multipart_etag"] = s3.head_object(Bucket="films", Key="big/feature.ts")["ETag"].strip('"').endswith("-3")
out["no_uploads_left"] = len(s3.list_multipart_uploads(Bucket="films").get("Uploads", [])) == 0
up = s3.create_multipart_upload(Bucket="films", Key="aborted")
s3.upload_part(Bucket="films", Key="aborted", UploadId=up["UploadId"], PartNumber=1, Body=b"x" * 1000)
out["parts_listed"] = len(s3.list_parts(Bucket="films", Key="aborted", UploadId=up["UploadId"])["Parts"]) == 1
s3.abort_multipart_upload(Bucket="films", Key="aborted", UploadId=up["UploadId"])
out["aborted_gone"] = code(lambda: s3.head_object(Bucket="films", Key="aborted")) == "404"
opened = sorted((k, s3.create_multipart_upload(Bucket="films", Key=k)["UploadId"]) for k in ["up/b", "up/a", "up/b"])
pages = list(s3.get_paginator("list_multipart_uploads").paginate(
    Bucket="films", Prefix="up/", PaginationConfig={"PageSize": 2}))
listed = [(u["Key"], u["UploadId"]) for page in pages for u in page.get("Uploads", [])]
out["uploads_paged"] = listed == opened and [len(p.get("Uploads", [])) for p in pages] == [2, 1]
for k, i in opened:
    s3.abort_multipart_upload(Bucket="films", Key=k, UploadId=i)

# Listing with pagination, prefixes and delimiters: key order, no key twice.
names = [f"list/{c}/{i:02}" for c in "ab" for i in range(5)] + ["list/top"]
for n in names:
    s3.put_object(Bucket="films", Key=n, Body=n.encode())
seen = []
for page in s3.get_paginator("list_objects_v2").paginate(Bucket="films", Prefix="list/", PaginationConfig={"PageSize": 3}):
    seen += [o["Key"] for o in page.get("Contents", [])]
out["paged_ok"] = seen == sorted(names)
d = s3.list_objects_v2(Bucket="films", Prefix="list/", Delimiter="/")
out["delimited_ok"] = [p["Prefix"] for p in d["CommonPrefixes"]] == ["list/a/", "list/b/"] and [o["Key"] for o in d["Contents"]] == ["list/top"]
v1 = [o["Key"] for page in s3.get_paginator("list_objects").paginate(Bucket="films", Prefix="list/a/", PaginationConfig={"PageSize": 2}) for o in page.get("Contents", [])]
out["v1_ok"] = v1 == sorted(n for n in names if n.startswith("list/a/"))

# Presigned GET by plain HTTP; an expired one refused.
url = s3.generate_presigned_url("get_object", Params={"Bucket": "films", "Key": "trailer.ts"}, ExpiresIn=600)
out["presigned_ok"] = urllib.request.urlopen(url).read() == body
url4 = s3v4.generate_presigned_url("get_object", Params={"Bucket": "films", "Key": "trailer.ts"}, ExpiresIn=600)
out["presigned_v4_ok"] = urllib.request.urlopen(url4).read() == body
expired = s3v4.generate_presigned_url("get_object", Params={"Bucket": "films", "Key": "trailer.ts"}, ExpiresIn=1)
import time; time.sleep(2)
try:
    urllib.request.urlopen(expired); out["expired"] = 200
except urllib.error.HTTPError as e:
    out["expired"] = e.code
put_url = s3v4.generate_presigned_url("put_object", Params={"Bucket": "films", "Key": "presigned-put"}, ExpiresIn=600)
urllib.request.urlopen(urllib.request.Request(put_url, data=b"via presigned put", method="PUT"))
out["presigned_put_ok"] = s3.get_object(Bucket="films", Key="presigned-put")["Body"].read() == b"via presigned put"
at = url4.index("X-Amz-Signature=") + len("X-Amz-Signature=")
tampered = url4[:at] + ("1" if url4[at] == "0" else "0") + url4[at + 1:]
try:
    urllib.request.urlopen(tampered); out["tampered"] = 200
except urllib.error.HTTPError as e:
    out["tampered"] = e.code

# Copy, delete several.
s3.copy_object(Bucket="films", Key="copy.ts", CopySource={"Bucket": "films", "Key": "trailer.ts"})
c = s3.get_object(Bucket="films", Key="copy.ts")
out["copy_ok"] = c["Body"].read() == body and c["Metadata"] == {"director": "nobody"}
src = {"Bucket": "films", "Key": "trailer.ts"}
out["copy_if_match_wrong"] = code(lambda: s3.copy_object(Bucket="films", Key="copy2.ts", CopySource=src, CopySourceIfMatch='"0000"'))
out["copy_if_none_match_same"] = code(lambda: s3.copy_object(Bucket="films", Key="copy2.ts", CopySource=src, CopySourceIfNoneMatch=r["ETag"]))
out["copy2_absent"] = code(lambda: s3.head_object(Bucket="films", Key="copy2.ts")) == "404"
out["copy_if_match_ok"] = code(lambda: s3.copy_object(Bucket="films", Key="copy2.ts", CopySource=src, CopySourceIfMatch=r["ETag"]))
s3.delete_object(Bucket="films", Key="copy2.ts")
s3.delete_objects(Bucket="films", Delete={"Objects": [{"Key": "copy.ts"}, {"Key": "list/top"}]})
out["deleted_ok"] = code(lambda: s3.head_object(Bucket="films", Key="copy.ts")) == "404"

# A body that does not match its Content-MD5 is refused and nothing is stored.
import base64
wrong_md5 = base64.b64encode(hashlib.md5(b"something else").digest()).decode()
out["bad_digest"] = code(lambda: s3.put_object(Bucket="films", Key="corrupt", Body=b"payload", ContentMD5=wrong_md5))
out["corrupt_absent"] = code(lambda: s3.head_object(Bucket="films", Key="corrupt")) == "404"

# Wrong secret, unknown key, key without a grant: refused, nothing changed.
out["wrong_secret"] = code(lambda: client(sec="x" * 40).put_object(Bucket="films", Key="w", Body=b"w"))
out["unknown_key"] = code(lambda: client(kid="NOSUCHKEY", sec="x" * 40).list_buckets())
out["no_grant"] = code(lambda: client(other_id, other_secret).put_object(Bucket="films", Key="w", Body=b"w"))
out["no_grant_read"] = code(lambda: client(other_id, other_secret).get_object(Bucket="films", Key="trailer.ts"))
out["w_absent"] = code(lambda: s3.head_object(Bucket="films", Key="w")) == "404"
out["missing_key"] = code(lambda: s3.get_object(Bucket="films", Key="nope"))
out["missing_bucket"] = code(lambda: s3.get_object(Bucket="nobucket", Key="nope"))
# Virtual-host style: BUCKET.localhost (resolved to loopback, RFC 6761).
import socket
_gai = socket.getaddrinfo
socket.getaddrinfo = lambda host, *a, **k: _gai("127.0.0.1" if isinstance(host, str) and host.endswith(".localhost") else host, *a, **k)
vh = boto3.client("s3", endpoint_url=endpoint.replace("127.0.0.1", "localhost"), aws_access_key_id=key_id,
                  aws_secret_access_key=secret, region_name="us-east-1",
                  config=Config(s3={"addressing_style": "virtual"}, signature_version="s3v4"))
vh.put_object(Bucket="films", Key="vhost/v.txt", Body=b"virtual")
out["vhost_ok"] = (s3.get_object(Bucket="films", Key="vhost/v.txt")["Body"].read() == b"virtual"
                   and [o["Key"] for o in vh.list_objects_v2(Bucket="films", Prefix="vhost/")["Contents"]] == ["vhost/v.txt"])
out["buckets"] = [b["Name"] for b in s3.list_buckets()["Buckets"]]
print(json.dumps(out))
"#;

/// boto3 as an SDK user runs it, through each member in turn, and through
/// a live member while another is SIGKILLed.
#[test]
fn boto3_round_trips() {
    if !have("python3", &["-c", "import boto3"]) {
        return;
    }
    let mut c = secured(3);
    boto3_everything(&mut c);
}

/// The same boto3 round trips over HTTPS (the SDK then sends its default
/// checksums as an unsigned aws-chunked body with a trailer), trusting
/// the cluster's CA.
#[test]
fn boto3_round_trips_over_https() {
    if !have("python3", &["-c", "import boto3"]) {
        return;
    }
    let mut c = Cluster::start_with(
        3,
        Opts {
            s3: true,
            tls: true,
            auth: Some((ROOT_ID.into(), ROOT_SECRET.into())),
            ..Opts::default()
        },
    );
    boto3_everything(&mut c);
}

/// Runs the boto3 script through member 0, then through member 1 with
/// member 2 SIGKILLed, and checks every answer.
fn boto3_everything(c: &mut Cluster) {
    let (other_id, other_secret) = {
        let r = c
            .agent
            .post(&format!("{}/v1/keys", c.url(0)))
            .set("Authorization", &root_bearer())
            .send_json(serde_json::json!({"name": "stranger"}))
            .expect("make a key");
        let doc: serde_json::Value = r.into_json().unwrap();
        (
            doc["access_key_id"].as_str().unwrap().to_string(),
            doc["secret_access_key"].as_str().unwrap().to_string(),
        )
    };
    let script = c.dir.path().join("boto3_check.py");
    std::fs::write(&script, BOTO3_SCRIPT).unwrap();
    let run = |c: &Cluster, i: usize| -> serde_json::Value {
        let endpoint = format!(
            "{}://{}",
            c.configs[i].http.scheme(),
            c.configs[i].me().s3.unwrap()
        );
        let mut cmd = Command::new("python3");
        cmd.arg(&script)
            .args([&endpoint, ROOT_ID, ROOT_SECRET, &other_id, &other_secret]);
        match &c.ca {
            // boto3 and urllib (presigned URLs) both trust the cluster's CA.
            Some(ca) => cmd.env("AWS_CA_BUNDLE", ca).env("SSL_CERT_FILE", ca),
            None => cmd.env_remove("AWS_CA_BUNDLE"),
        };
        let out = cmd.output().expect("run python3");
        assert!(
            out.status.success(),
            "boto3 script failed on member {i}:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("the script's JSON")
    };
    let check = |out: &serde_json::Value| {
        for flag in [
            "etag_is_md5",
            "range_ok",
            "head_ok",
            "whole_ok",
            "multipart_ok",
            "multipart_etag",
            "no_uploads_left",
            "parts_listed",
            "aborted_gone",
            "uploads_paged",
            "paged_ok",
            "delimited_ok",
            "v1_ok",
            "presigned_ok",
            "presigned_v4_ok",
            "vhost_ok",
            "presigned_put_ok",
            "copy_ok",
            "copy2_absent",
            "deleted_ok",
            "corrupt_absent",
            "w_absent",
        ] {
            assert_eq!(out[flag], true, "{flag}: {out}");
        }
        let expect = [
            ("if_none_match", "304"),
            ("if_match_wrong", "PreconditionFailed"),
            ("copy_if_match_wrong", "PreconditionFailed"),
            ("copy_if_none_match_same", "PreconditionFailed"),
            ("copy_if_match_ok", "ok"),
            ("bad_range", "InvalidRange"),
            ("bad_digest", "BadDigest"),
            ("wrong_secret", "SignatureDoesNotMatch"),
            ("unknown_key", "InvalidAccessKeyId"),
            ("no_grant", "AccessDenied"),
            ("no_grant_read", "AccessDenied"),
            ("missing_key", "NoSuchKey"),
            ("missing_bucket", "NoSuchBucket"),
        ];
        for (field, want) in expect {
            assert_eq!(out[field], want, "{field}: {out}");
        }
        assert_eq!(out["expired"], 403, "{out}");
        assert_eq!(out["tampered"], 403, "{out}");
        assert_eq!(out["buckets"], serde_json::json!(["films"]), "{out}");
    };
    check(&run(c, 0));
    // With member 2 SIGKILLed, the whole round trip again through member 1
    // (the bucket exists now: the script makes it only when missing).
    c.kill(2);
    let survivor = {
        let script_text = BOTO3_SCRIPT.replace(
            "s3.create_bucket(Bucket=\"films\")",
            "s3.create_bucket(Bucket=\"films\") if \"films\" not in [b[\"Name\"] for b in s3.list_buckets()[\"Buckets\"]] else None",
        );
        std::fs::write(&script, script_text).unwrap();
        run(c, 1)
    };
    check(&survivor);
}

/// The aws cli: `s3 cp` above the multipart threshold, `s3 ls`, `s3 sync`
/// of a tree, and `s3api` for ranges and metadata.
#[test]
fn aws_cli_round_trips() {
    if !have("aws", &["--version"]) {
        return;
    }
    let c = secured(3);
    let dir = c.dir.path();
    let endpoint = format!("http://{}", c.configs[1].me().s3.unwrap());
    let cli = common::AwsCli::new(dir, &endpoint, (ROOT_ID, ROOT_SECRET));
    let aws = |args: &[&str]| cli.run(args);
    aws(&["s3", "mb", "s3://tree"]);
    let big = pattern(20 * 1024 * 1024 + 17, 5);
    std::fs::write(dir.join("big.bin"), &big).unwrap();
    aws(&[
        "s3",
        "cp",
        dir.join("big.bin").to_str().unwrap(),
        "s3://tree/big.bin",
    ]);
    let back = dir.join("big.back");
    aws(&["s3", "cp", "s3://tree/big.bin", back.to_str().unwrap()]);
    assert!(std::fs::read(&back).unwrap() == big, "multipart round trip");
    // A tree of files, synced up and down.
    let src = dir.join("src");
    for (i, rel) in ["a.txt", "sub/b.txt", "sub/deeper/c.bin", "z"]
        .iter()
        .enumerate()
    {
        let p = src.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, pattern(1000 + i * 50_000, i as u64)).unwrap();
    }
    aws(&["s3", "sync", src.to_str().unwrap(), "s3://tree/site"]);
    let dst = dir.join("dst");
    aws(&["s3", "sync", "s3://tree/site", dst.to_str().unwrap()]);
    for rel in ["a.txt", "sub/b.txt", "sub/deeper/c.bin", "z"] {
        assert_eq!(
            std::fs::read(src.join(rel)).unwrap(),
            std::fs::read(dst.join(rel)).unwrap(),
            "{rel}"
        );
    }
    // A second sync has nothing to do.
    let again = aws(&["s3", "sync", src.to_str().unwrap(), "s3://tree/site"]);
    assert!(!again.contains("upload:"), "{again}");
    let listing = aws(&["s3", "ls", "--recursive", "s3://tree/site/"]);
    assert_eq!(listing.lines().count(), 4, "{listing}");
    // s3api: metadata and a range.
    aws(&[
        "s3api",
        "put-object",
        "--bucket",
        "tree",
        "--key",
        "meta.ts",
        "--body",
        src.join("a.txt").to_str().unwrap(),
        "--content-type",
        "video/mp2t",
        "--metadata",
        "owner=me",
    ]);
    let head: serde_json::Value = serde_json::from_str(&aws(&[
        "s3api",
        "head-object",
        "--bucket",
        "tree",
        "--key",
        "meta.ts",
    ]))
    .unwrap();
    assert_eq!(head["ContentType"], "video/mp2t", "{head}");
    assert_eq!(head["Metadata"]["owner"], "me", "{head}");
    let part = dir.join("part");
    aws(&[
        "s3api",
        "get-object",
        "--bucket",
        "tree",
        "--key",
        "big.bin",
        "--range",
        "bytes=1048570-1048589",
        part.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read(&part).unwrap(), &big[1_048_570..1_048_590]);
    // The /v1 API sees the bucket's objects as BUCKET/KEY.
    let r = ureq::get(&format!("{}/v1/objects/tree/site/sub/b.txt", c.url(2)))
        .set("Authorization", &root_bearer())
        .call()
        .unwrap();
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut r.into_reader(), &mut bytes).unwrap();
    assert_eq!(bytes, std::fs::read(src.join("sub/b.txt")).unwrap());
}

/// A small tree of files under `root` (relative paths and contents).
fn tree(root: &std::path::Path) -> Vec<(&'static str, Vec<u8>)> {
    let files = vec![
        ("one.txt", pattern(10, 1)),
        ("media/clip.ts", pattern(300_000, 2)),
        ("media/deep/er/frame.bin", pattern(70_000, 3)),
        ("empty", Vec::new()),
    ];
    for (rel, data) in &files {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, data).unwrap();
    }
    files
}

/// rclone `copy`, `sync` and `check` against a local directory: zero differences.
#[test]
fn rclone_copy_sync_and_check() {
    if !have("rclone", &["version"]) {
        return;
    }
    let c = secured(3);
    let dir = c.dir.path();
    let src = dir.join("local");
    let files = tree(&src);
    let endpoint = format!("http://{}", c.configs[2].me().s3.unwrap());
    let rclone = |args: &[&str]| -> std::process::Output {
        Command::new("rclone")
            .args(args)
            .args(["--config", dir.join("rclone.conf").to_str().unwrap()])
            .env("RCLONE_CONFIG_SC_TYPE", "s3")
            .env("RCLONE_CONFIG_SC_PROVIDER", "Other")
            .env("RCLONE_CONFIG_SC_ACCESS_KEY_ID", ROOT_ID)
            .env("RCLONE_CONFIG_SC_SECRET_ACCESS_KEY", ROOT_SECRET)
            .env("RCLONE_CONFIG_SC_ENDPOINT", &endpoint)
            .env("RCLONE_CONFIG_SC_REGION", "us-east-1")
            // rclone's AWS SDK refuses a CA bundle it cannot load over plain HTTP.
            .env_remove("AWS_CA_BUNDLE")
            .output()
            .expect("run rclone")
    };
    let ok = |args: &[&str]| {
        let out = rclone(args);
        assert!(
            out.status.success(),
            "rclone {args:?}:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    ok(&["mkdir", "sc:backup"]);
    ok(&["copy", src.to_str().unwrap(), "sc:backup/copy"]);
    ok(&["check", src.to_str().unwrap(), "sc:backup/copy"]);
    // Sync removes what the source no longer has, and check finds nothing.
    std::fs::remove_file(src.join("one.txt")).unwrap();
    std::fs::write(src.join("media/clip.ts"), pattern(300_001, 9)).unwrap();
    ok(&["sync", src.to_str().unwrap(), "sc:backup/copy"]);
    ok(&["check", src.to_str().unwrap(), "sc:backup/copy"]);
    // And back down, byte for byte.
    let down = dir.join("down");
    ok(&["copy", "sc:backup/copy", down.to_str().unwrap()]);
    for (rel, _) in &files[1..] {
        assert_eq!(
            std::fs::read(src.join(rel)).unwrap(),
            std::fs::read(down.join(rel)).unwrap(),
            "{rel}"
        );
    }
    assert!(!down.join("one.txt").exists(), "synced away");
    // A difference is found: check is not vacuous.
    std::fs::write(src.join("media/deep/er/frame.bin"), b"changed").unwrap();
    assert!(!rclone(&["check", src.to_str().unwrap(), "sc:backup/copy"])
        .status
        .success());
}

/// s3cmd `put`, `get`, `ls`, `del`.
#[test]
fn s3cmd_put_get_ls_del() {
    if !have("s3cmd", &["--version"]) {
        return;
    }
    let c = secured(3);
    let dir = c.dir.path();
    let conf = dir.join("s3cmd.conf");
    std::fs::write(&conf, "[default]\n").unwrap();
    let host = c.configs[0].me().s3.unwrap().to_string();
    let s3cmd = |args: &[&str]| -> String {
        let out = Command::new("s3cmd")
            .args(["-c", conf.to_str().unwrap()])
            .args(["--access_key", ROOT_ID, "--secret_key", ROOT_SECRET])
            .args([
                "--host",
                &host,
                "--host-bucket",
                &host,
                "--no-ssl",
                "--region",
                "us-east-1",
            ])
            .args(args)
            .output()
            .expect("run s3cmd");
        assert!(
            out.status.success(),
            "s3cmd {args:?}:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    s3cmd(&["mb", "s3://cmdb"]);
    let data = pattern(250_000, 4);
    let file = dir.join("f.bin");
    std::fs::write(&file, &data).unwrap();
    s3cmd(&["put", file.to_str().unwrap(), "s3://cmdb/dir/f.bin"]);
    let listed = s3cmd(&["ls", "s3://cmdb/dir/"]);
    assert!(listed.contains("s3://cmdb/dir/f.bin"), "{listed}");
    let back = dir.join("back.bin");
    s3cmd(&["get", "s3://cmdb/dir/f.bin", back.to_str().unwrap()]);
    assert!(std::fs::read(&back).unwrap() == data);
    s3cmd(&["del", "s3://cmdb/dir/f.bin"]);
    let listed = s3cmd(&["ls", "s3://cmdb/dir/"]);
    assert!(!listed.contains("f.bin"), "{listed}");
}

/// `[http] allowed_hosts` holds on the S3 listener too: a member without
/// `[auth]` (open, loopback) refuses a Host it does not answer to, and
/// changes nothing.
#[test]
fn s3_refuses_hosts_not_allowed() {
    let c = Cluster::start_with(
        3,
        Opts {
            s3: true,
            allowed_hosts: vec!["localhost".into(), "127.0.0.1".into()],
            ..Opts::default()
        },
    );
    let addr = c.configs[0].me().s3.unwrap();
    let send = |host: &str, request_line: &str| -> String {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(
            s,
            "{request_line}\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    };
    let refused = send("evil.example", "PUT /rebound HTTP/1.1");
    assert!(refused.starts_with("HTTP/1.1 403"), "{refused}");
    let listed = send(&addr.to_string(), "GET / HTTP/1.1");
    assert!(listed.starts_with("HTTP/1.1 200"), "{listed}");
    assert!(!listed.contains("rebound"), "no bucket was made: {listed}");
    let made = send(&addr.to_string(), "PUT /allowed HTTP/1.1");
    assert!(made.starts_with("HTTP/1.1 200"), "{made}");
}

#[test]
fn a_read_token_guards_metrics_and_the_cluster_view() {
    const TOKEN: &str = "scrape-token-0123456789abcdef";
    let c = Cluster::start_with(
        3,
        Opts {
            auth: Some((ROOT_ID.into(), ROOT_SECRET.into())),
            read_token: Some(TOKEN.into()),
            ..Opts::default()
        },
    );
    for path in ["/metrics", "/v1/cluster", "/v1/ring"] {
        let url = format!("{}{path}", c.url(1));
        assert_eq!(call("GET", &url, None, None).0, 401, "{path} anonymous");
        let wrong = "Bearer scrape-token-0123456789abcdeX";
        assert_eq!(
            call("GET", &url, Some(wrong), None).0,
            403,
            "{path} wrong token"
        );
    }
    let token = format!("Bearer {TOKEN}");
    let (status, body) = call("GET", &format!("{}/metrics", c.url(1)), Some(&token), None);
    assert_eq!(status, 200);
    assert!(body.contains("stripecast_"), "{body}");
    assert_eq!(
        call(
            "GET",
            &format!("{}/v1/cluster", c.url(2)),
            Some(&root_bearer()),
            None
        )
        .0,
        200,
        "any key reads it too"
    );
    // The token opens only the reads: never a write.
    assert_eq!(
        call(
            "PUT",
            &format!("{}/v1/objects/b/x", c.url(0)),
            Some(&token),
            Some(b"x")
        )
        .0,
        403
    );
}

#[test]
fn a_multipart_upload_left_open_expires_with_its_parts() {
    // An open cluster (no keys): plain unsigned S3 requests.
    let c = Cluster::start_with(
        3,
        Opts {
            s3: true,
            multipart_expiry_s: Some(5),
            ..Opts::default()
        },
    );
    let s3 = format!("http://{}", c.configs[0].me().s3.unwrap());
    assert_eq!(call("PUT", &format!("{s3}/films"), None, None).0, 200);
    let (status, xml) = call("POST", &format!("{s3}/films/left.mp4?uploads"), None, None);
    assert_eq!(status, 200, "{xml}");
    let id = xml
        .split("<UploadId>")
        .nth(1)
        .and_then(|r| r.split("</UploadId>").next())
        .expect("an upload id")
        .to_string();
    let part = pattern(5 * 1024 * 1024, 77);
    for n in 1..=2 {
        let url = format!("{s3}/films/left.mp4?partNumber={n}&uploadId={id}");
        assert_eq!(call("PUT", &url, None, Some(&part)).0, 200);
    }
    let waiting = |c: &Cluster| -> usize {
        let list: Vec<serde_json::Value> = c
            .agent
            .get(&format!("{}/v1/objects", c.url(1)))
            .call()
            .unwrap()
            .into_json()
            .unwrap();
        list.iter()
            .filter(|o| {
                o["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with(".multipart/"))
            })
            .count()
    };
    assert_eq!(waiting(&c), 3, "two parts and the upload's info");
    c.wait_until("the open upload expired", Duration::from_secs(60), || {
        waiting(&c) == 0
    });
    let (status, xml) = call("GET", &format!("{s3}/films?uploads"), None, None);
    assert_eq!(status, 200);
    assert!(!xml.contains(&id), "no longer listed: {xml}");
    let url = format!("{s3}/films/left.mp4?partNumber=3&uploadId={id}");
    assert_eq!(
        call("PUT", &url, None, Some(b"late")).0,
        404,
        "NoSuchUpload"
    );
    // The bucket holds nothing: it can be deleted.
    assert_eq!(call("DELETE", &format!("{s3}/films"), None, None).0, 204);
}

/// Signed streaming uploads (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD`, and
/// `-TRAILER` with a signed `x-amz-checksum-crc32` trailer: what the Java
/// and Go SDKs send over plain HTTP), built by hand on botocore's seed
/// signature: stored when every signature and the checksum hold; refused
/// (and nothing stored) when one chunk was changed on the way or the
/// trailer's checksum is not the body's.
const SIGNED_STREAMING_SCRIPT: &str = r#"
import hashlib, hmac, json, sys, urllib.request, urllib.error
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

endpoint, kid, sec = sys.argv[1:4]
REGION = "us-east-1"

def put(key, data, tamper=False, chunk=64 * 1024, crc=None):
    """crc: send a signed trailer x-amz-checksum-crc32 with this value."""
    url = f"{endpoint}/films/{key}"
    chunks = [data[i:i + chunk] for i in range(0, len(data), chunk)] + [b""]
    trailer = f"x-amz-checksum-crc32:{crc}".encode() if crc is not None else None
    headers = {
        "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" + ("-TRAILER" if trailer else ""),
        "Content-Encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(len(data)),
    }
    if trailer:
        headers["x-amz-trailer"] = "x-amz-checksum-crc32"
    encoded_len = sum(len(f"{len(c):x};chunk-signature=") + 64 + 2 + len(c) + 2 for c in chunks)
    if trailer:
        encoded_len += len(trailer) + 2 + len("x-amz-trailer-signature:") + 64 + 2 + 2
    headers["Content-Length"] = str(encoded_len)
    req = AWSRequest(method="PUT", url=url, headers=headers)
    SigV4Auth(Credentials(kid, sec), "s3", REGION).add_auth(req)
    prev = req.headers["Authorization"].split("Signature=")[1]
    stamp = req.headers["X-Amz-Date"]
    scope = f"{stamp[:8]}/{REGION}/s3/aws4_request"
    key_bytes = ("AWS4" + sec).encode()
    for part in (stamp[:8], REGION, "s3", "aws4_request"):
        key_bytes = hmac.new(key_bytes, part.encode(), hashlib.sha256).digest()
    empty = hashlib.sha256(b"").hexdigest()
    body = b""
    for n, c in enumerate(chunks):
        to_sign = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", stamp, scope, prev, empty, hashlib.sha256(c).hexdigest()])
        sig = hmac.new(key_bytes, to_sign.encode(), hashlib.sha256).hexdigest()
        sent = bytes([c[0] ^ 1]) + c[1:] if tamper and n == 1 else c
        body += f"{len(c):x};chunk-signature={sig}\r\n".encode() + sent + b"\r\n"
        prev = sig
    if trailer:
        to_sign = "\n".join(["AWS4-HMAC-SHA256-TRAILER", stamp, scope, prev,
                             hashlib.sha256(trailer + b"\n").hexdigest()])
        tsig = hmac.new(key_bytes, to_sign.encode(), hashlib.sha256).hexdigest()
        body += trailer + b"\r\n" + f"x-amz-trailer-signature:{tsig}\r\n\r\n".encode()
    r = urllib.request.Request(url, data=body, method="PUT", headers=dict(req.headers))
    try:
        return urllib.request.urlopen(r).status
    except urllib.error.HTTPError as e:
        text = e.read().decode(errors="replace")
        code = text.split("<Code>")[1].split("</Code>")[0] if "<Code>" in text else text
        return f"{e.code} {code}"

data = bytes((i * 31 + 7) % 256 for i in range(300_000))
import base64, zlib
crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
wrong = base64.b64encode((zlib.crc32(data) ^ 1).to_bytes(4, "big")).decode()
out = {"good": put("signed-stream", data), "tampered": put("tampered-stream", data, tamper=True),
       "trailer_good": put("signed-trailer", data, crc=crc),
       "trailer_wrong": put("signed-trailer-wrong", data, crc=wrong)}
print(json.dumps(out))
"#;

#[test]
fn signed_streaming_uploads_are_checked_chunk_by_chunk() {
    if !have("python3", &["-c", "import botocore"]) {
        return;
    }
    let c = secured(3);
    let s3 = format!("http://{}", c.configs[0].me().s3.unwrap());
    let script = c.dir.path().join("signed_streaming.py");
    std::fs::write(&script, SIGNED_STREAMING_SCRIPT).unwrap();
    let bucket = call(
        "PUT",
        &format!("{}/v1/buckets/films", c.url(0)),
        Some(&root_bearer()),
        None,
    );
    assert_eq!(bucket.0, 201, "{}", bucket.1);
    let mut cmd = Command::new("python3");
    cmd.arg(&script).args([&s3, ROOT_ID, ROOT_SECRET]);
    let out = cmd.output().expect("run python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["good"], 200, "{doc}");
    assert_eq!(doc["tampered"], "403 SignatureDoesNotMatch", "{doc}");
    assert_eq!(doc["trailer_good"], 200, "{doc}");
    assert_eq!(doc["trailer_wrong"], "400 BadDigest", "{doc}");
    let data: Vec<u8> = (0..300_000u32)
        .map(|i| ((i * 31 + 7) % 256) as u8)
        .collect();
    for name in ["signed-stream", "signed-trailer"] {
        let r = ureq::get(&format!("{}/v1/objects/films/{name}", c.url(2)))
            .set("Authorization", &root_bearer())
            .call()
            .unwrap();
        let mut got = Vec::new();
        std::io::Read::read_to_end(&mut r.into_reader(), &mut got).unwrap();
        assert_eq!(got, data, "{name}: the decoded body, byte for byte");
    }
    for name in ["tampered-stream", "signed-trailer-wrong"] {
        let url = format!("{}/v1/objects/films/{name}", c.url(1));
        let status = call("GET", &url, Some(&root_bearer()), None).0;
        assert_eq!(status, 404, "{name}: nothing stored");
    }
}
