"""The object storage service through the official OSS SDKs, unmodified.

    python oss_sdk.py MODE ENDPOINT BUCKET

MODE: oss2-v1 (oss2, signature V1), oss2-v4 (oss2 with ProviderAuthV4) or
v2 (alibabacloud-oss-v2, signature V4). ENDPOINT: http://IP:PORT (the SDKs
address buckets path-style on an IP endpoint). BUCKET: a name unique to the
run; the script makes BUCKET and BUCKET-copy, and removes both.
Keys come from the environment: OSS_AK/OSS_SK (the owner), OSS_OTHER_AK/
OSS_OTHER_SK (another account), OSS_ACCOUNT and OSS_OTHER_ACCOUNT (their
account ids).
CRC-64 checks are on (both SDKs' default) and every answer is asserted.
Prints "ok <mode>" at the end; any failure raises.
"""
import base64
import hashlib
import json
import os
import sys
import urllib.parse

import requests

MODE, ENDPOINT, BUCKET = sys.argv[1], sys.argv[2], sys.argv[3]
COPY_BUCKET = BUCKET + "-copy"
AK, SK = os.environ["OSS_AK"], os.environ["OSS_SK"]
OTHER_AK, OTHER_SK = os.environ["OSS_OTHER_AK"], os.environ["OSS_OTHER_SK"]
ACCOUNT = os.environ["OSS_ACCOUNT"]
OTHER_ACCOUNT = os.environ["OSS_OTHER_ACCOUNT"]
REGION = "cn-hangzhou"
PUBLIC_HOST = "oss-%s.aliyuncs.com" % REGION

DATA = bytes(range(256)) * 40 + b"tail"  # 10,244 bytes
KEYS = ["a.txt", "dir/1", "dir/2", "dir/sub/3", "odd key+%&=?.txt", "z/\u00e9t\u00e9"]


def md5_hex(b):
    return hashlib.md5(b).hexdigest().upper()


def md5_b64(b):
    return base64.b64encode(hashlib.md5(b).digest()).decode()


def check(cond, what):
    if not cond:
        raise AssertionError(what)


# ---------------------------------------------------------------- oss2

def run_oss2(v4):
    import oss2

    def auth(ak, sk):
        if v4:
            return oss2.ProviderAuthV4(oss2.credentials.StaticCredentialsProvider(ak, sk))
        return oss2.Auth(ak, sk)

    def bucket(name, a=None, **kw):
        return oss2.Bucket(a or auth(AK, SK), ENDPOINT, name, region=REGION, enable_crc=True, **kw)

    def fails(code, status, f, *args, **kw):
        try:
            f(*args, **kw)
        except oss2.exceptions.OssError as e:
            check(e.code == code and e.status == status, "expected %s %s, got %s %s: %s" % (code, status, e.code, e.status, e))
            check(e.request_id, "an error without a request id")
            return e
        raise AssertionError("expected %s, the call succeeded" % code)

    b = bucket(BUCKET)
    b.create_bucket(oss2.BUCKET_ACL_PRIVATE)
    b.create_bucket(oss2.BUCKET_ACL_PRIVATE)  # the owner again: no change
    bucket(COPY_BUCKET).create_bucket(oss2.BUCKET_ACL_PRIVATE, oss2.models.BucketCreateConfig(oss2.BUCKET_STORAGE_CLASS_STANDARD))
    other = bucket(BUCKET, auth(OTHER_AK, OTHER_SK))
    fails("BucketAlreadyExists", 409, other.create_bucket)
    fails("NotImplemented", 501, bucket(BUCKET + "-ia").create_bucket, oss2.BUCKET_ACL_PRIVATE,
          oss2.models.BucketCreateConfig(oss2.BUCKET_STORAGE_CLASS_IA))

    info = b.get_bucket_info()
    check(info.name == BUCKET and info.location == "oss-" + REGION, vars(info))
    check(info.owner.id == ACCOUNT and info.acl.grant == "private", vars(info.owner))
    check(info.extranet_endpoint == PUBLIC_HOST, info.extranet_endpoint)
    check(b.get_bucket_location().location == "oss-" + REGION, "location")

    svc = oss2.Service(auth(AK, SK), ENDPOINT, region=REGION)
    names = [x.name for x in oss2.BucketIterator(svc, prefix=BUCKET)]
    check(names == [BUCKET, COPY_BUCKET], names)
    page = svc.list_buckets(prefix=BUCKET, max_keys=1)
    check(page.is_truncated and [x.name for x in page.buckets] == [BUCKET] and page.next_marker == BUCKET, vars(page))
    page = svc.list_buckets(prefix=BUCKET, marker=BUCKET, max_keys=1)
    check(not page.is_truncated and [x.name for x in page.buckets] == [COPY_BUCKET], vars(page))

    # Objects: ETag = MD5, CRC-64 checked by the SDK, metadata kept.
    for k in KEYS:
        r = b.put_object(k, DATA + k.encode(), headers={"x-oss-meta-color": "blue", "Content-Type": "text/plain",
                                                          "Cache-Control": "no-cache"})
        check(r.etag == md5_hex(DATA + k.encode()), (r.etag, k))
        check(r.crc is not None, "no CRC-64 header")
    r = b.put_object("md5", b"abc", headers={"Content-MD5": md5_b64(b"abc")})
    check(r.status == 200, r.status)
    fails("BadDigest", 400, b.put_object, "md5", b"abd", headers={"Content-MD5": md5_b64(b"abc")})
    fails("InvalidDigest", 400, b.put_object, "md5", b"abc", headers={"Content-MD5": "not-base64!"})
    check(b.get_object("md5").read() == b"abc", "a refused put changed the object")
    fails("FileAlreadyExists", 409, b.put_object, "md5", b"new", headers={"x-oss-forbid-overwrite": "true"})
    fails("NotImplemented", 501, b.put_object, "sse", b"x", headers={"x-oss-server-side-encryption": "AES256"})
    fails("NotImplemented", 501, b.put_object, "tagged", b"x", headers={"x-oss-tagging": "a=b"})
    fails("NotImplemented", 501, b.get_object, "md5", headers={"x-oss-traffic-limit": "819200"})
    fails("NotImplemented", 501, b.put_object, "ia", b"x", headers={"x-oss-storage-class": "IA"})
    fails("NotImplemented", 501, b.put_object_acl, "md5", oss2.OBJECT_ACL_PUBLIC_READ)
    check(not b.object_exists("sse") and not b.object_exists("tagged") and not b.object_exists("ia"), "a refused put made an object")

    o = b.get_object("a.txt")
    body = o.read()
    check(body == DATA + b"a.txt", "GetObject body")
    check(o.headers["x-oss-meta-color"] == "blue" and o.content_type == "text/plain", dict(o.headers))
    check(o.headers["Cache-Control"] == "no-cache", dict(o.headers))
    check(o.etag == md5_hex(body) and o.server_crc is not None, o.etag)
    o = b.get_object("a.txt", byte_range=(2, 5))
    check(o.status == 206 and o.read() == DATA[2:6], "range 2-5")
    check(o.headers["Content-Range"] == "bytes 2-5/%d" % (len(DATA) + 5), o.headers["Content-Range"])
    o = b.get_object("a.txt", byte_range=(None, 3))
    check(o.status == 206 and o.read() == b"txt", "suffix range")
    o = b.get_object("a.txt", byte_range=(10240, None))
    check(o.status == 206 and o.read() == b"taila.txt", "open range")
    o = b.get_object("a.txt", byte_range=(100000, 100010))
    check(o.status == 200 and o.read() == DATA + b"a.txt", "an unsatisfiable range is ignored, as OSS does")
    fails("InvalidRange", 416, b.get_object, "a.txt", byte_range=(100000, 100010),
          headers={"x-oss-range-behavior": "standard"})
    h = b.head_object("dir/1")
    check(h.content_length == len(DATA) + 5 and h.etag == md5_hex(DATA + b"dir/1"), vars(h))
    check(h.headers["x-oss-meta-color"] == "blue", dict(h.headers))
    m = b.get_object_meta("dir/1")
    check(m.content_length == len(DATA) + 5 and m.etag == md5_hex(DATA + b"dir/1"), vars(m))
    fails("NoSuchKey", 404, b.get_object, "missing")
    try:
        b.head_object("missing")
        raise AssertionError("HeadObject of a missing key succeeded")
    except oss2.exceptions.NotFound as e:
        check(e.status == 404, e)
    fails("NoSuchBucket", 404, bucket(BUCKET + "-none").get_object, "a.txt")
    check(b.object_exists("a.txt") and not b.object_exists("missing"), "object_exists")

    # Listings: delimiter, prefix, marker, pages, url encoding (oss2 asks for it).
    r = b.list_objects(delimiter="/")
    check([x.key for x in r.object_list] == ["a.txt", "md5", "odd key+%&=?.txt"], [x.key for x in r.object_list])
    check(r.prefix_list == ["dir/", "z/"], r.prefix_list)
    r = b.list_objects(prefix="dir/", delimiter="/")
    check([x.key for x in r.object_list] == ["dir/1", "dir/2"] and r.prefix_list == ["dir/sub/"], vars(r))
    r = b.list_objects(prefix="dir/", max_keys=2)
    check(r.is_truncated and r.next_marker == "dir/2" and len(r.object_list) == 2, vars(r))
    r = b.list_objects(prefix="dir/", marker=r.next_marker, max_keys=2)
    check(not r.is_truncated and [x.key for x in r.object_list] == ["dir/sub/3"], vars(r))
    first = b.list_objects(max_keys=1).object_list[0]
    check(first.etag == md5_hex(DATA + b"a.txt") and first.size == len(DATA) + 5 and first.storage_class == "Standard", vars(first))
    all_keys = [x.key for x in oss2.ObjectIterator(b, max_keys=2)]
    check(all_keys == sorted(KEYS + ["md5"]), all_keys)
    all_keys = [x.key for x in oss2.ObjectIteratorV2(b, max_keys=2)]
    check(all_keys == sorted(KEYS + ["md5"]), all_keys)
    r = b.list_objects_v2(prefix="dir/", delimiter="/", fetch_owner=True)
    check([x.key for x in r.object_list] == ["dir/1", "dir/2"] and r.object_list[0].owner.id == ACCOUNT, vars(r))
    r = b.list_objects_v2(start_after="dir/2", max_keys=1)
    check([x.key for x in r.object_list] == ["dir/sub/3"] and r.is_truncated, vars(r))
    r = b.list_objects_v2(continuation_token=r.next_continuation_token, max_keys=100)
    check([x.key for x in r.object_list] == ["md5", "odd key+%&=?.txt", "z/\u00e9t\u00e9"], [x.key for x in r.object_list])
    fails("InvalidArgument", 400, b.list_objects, max_keys=1001)
    fails("InvalidArgument", 400, b.list_objects_v2, continuation_token="not-a-token")

    # Copies: within and across the account's buckets; COPY and REPLACE.
    r = b.copy_object(BUCKET, "a.txt", "a-copy")
    check(r.etag == md5_hex(DATA + b"a.txt"), r.etag)
    check(b.head_object("a-copy").headers["x-oss-meta-color"] == "blue", "COPY kept the metadata")
    bucket(COPY_BUCKET).copy_object(BUCKET, "odd key+%&=?.txt", "x", headers={
        "x-oss-metadata-directive": "REPLACE", "x-oss-meta-shape": "round", "Content-Type": "image/png"})
    o = bucket(COPY_BUCKET).get_object("x")
    check(o.read() == DATA + "odd key+%&=?.txt".encode() and o.headers["x-oss-meta-shape"] == "round"
          and "x-oss-meta-color" not in o.headers and o.content_type == "image/png", dict(o.headers))
    fails("NoSuchKey", 404, b.copy_object, BUCKET, "missing", "y")

    # Bodies the SDKs never send malformed, sent through oss2's own signed transport.
    bad = b"<Delete><Object><Key>a.txt</Key></Object>"
    fails("MalformedXML", 400, b._do, "POST", BUCKET, "", params={"delete": ""}, data=bad,
          headers={"Content-MD5": md5_b64(bad)})
    good = b"<Delete><Object><Key>a.txt</Key></Object></Delete>"
    fails("MissingArgument", 400, b._do, "POST", BUCKET, "", params={"delete": ""}, data=good)
    fails("BadDigest", 400, b._do, "POST", BUCKET, "", params={"delete": ""}, data=good,
          headers={"Content-MD5": md5_b64(bad)})
    fails("MalformedXML", 400, b._do, "PUT", BUCKET + "-bad", "", data=b"<CreateBucketConfiguration><StorageClass>")
    fails("InvalidArgument", 400, b._do, "GET", BUCKET, "", params={"encoding-type": "base64"})
    check(b.object_exists("a.txt"), "a refused DeleteMultipleObjects deleted an object")

    # Batch delete (oss2 asks for url encoding and sends Content-MD5).
    r = b.batch_delete_objects(["dir/1", "dir/2", "never-there"])
    check(sorted(r.deleted_keys) == ["dir/1", "dir/2", "never-there"], r.deleted_keys)
    fails("NoSuchKey", 404, b.get_object, "dir/1")
    r = b.delete_object("never-there")
    check(r.status == 204, r.status)

    # Authentication and the other account.
    fails("SignatureDoesNotMatch", 403, bucket(BUCKET, auth(AK, SK + "x")).get_object, "a.txt")
    fails("InvalidAccessKeyId", 403, bucket(BUCKET, auth("LTAInobody", SK)).get_object, "a.txt")
    fails("AccessDenied", 403, other.get_object, "a.txt")
    fails("AccessDenied", 403, other.put_object, "intruder", b"x")
    fails("AccessDenied", 403, oss2.Bucket(oss2.AnonymousAuth(), ENDPOINT, BUCKET).get_object, "a.txt")
    fails("AccessDenied", 403, other.get_bucket_info)
    names = [x.name for x in oss2.BucketIterator(oss2.Service(auth(OTHER_AK, OTHER_SK), ENDPOINT, region=REGION), prefix=BUCKET)]
    check(names == [], "another account lists our buckets: %s" % names)

    # A signed URL, fetched without the SDK.
    url = b.sign_url("GET", "a.txt", 60)
    got = requests.get(url)
    check(got.status_code == 200 and got.content == DATA + b"a.txt", (got.status_code, got.text[:300]))
    got = requests.get(url.replace("Signature=", "Signature=x") if not v4 else url.replace("x-oss-signature=", "x-oss-signature=0"))
    check(got.status_code == 403 and "<Code>SignatureDoesNotMatch</Code>" in got.text, got.text[:300])

    # Virtual-host addressing: the SDK talks to <bucket>.oss-<region>.aliyuncs.com
    # through its own proxy setting (the service is the proxy).
    host = urllib.parse.urlparse(ENDPOINT).netloc
    vb = oss2.Bucket(auth(AK, SK), "http://" + PUBLIC_HOST, BUCKET, region=REGION, enable_crc=True,
                     proxies={"http": "http://" + host})
    vb.put_object("virtual", b"hosted")
    check(vb.get_object("virtual").read() == b"hosted" and b.get_object("virtual").read() == b"hosted", "virtual host")

    # Multipart uploads: by hand, then oss2's resumable upload of a file.
    import tempfile
    big = os.urandom(700 * 1024) + b"end"
    up = b.init_multipart_upload("multi/big", headers={"x-oss-meta-kind": "parts"}).upload_id
    p1 = b.upload_part("multi/big", up, 1, big[:300 * 1024])
    p2 = b.upload_part("multi/big", up, 2, big[300 * 1024:600 * 1024])
    p3 = b.upload_part("multi/big", up, 3, big[600 * 1024:])
    check([x.part_number for x in b.list_parts("multi/big", up).parts] == [1, 2, 3], "ListParts")
    check([x.upload_id for x in b.list_multipart_uploads(prefix="multi/").upload_list] == [up], "ListMultipartUploads")
    fails("InvalidPart", 400, b.complete_multipart_upload, "multi/big", up,
          [oss2.models.PartInfo(1, p2.etag), oss2.models.PartInfo(2, p2.etag)])
    parts = [oss2.models.PartInfo(i + 1, p.etag, size=len(d), part_crc=p.crc)
             for i, (p, d) in enumerate([(p1, big[:300 * 1024]), (p2, big[300 * 1024:600 * 1024]), (p3, big[600 * 1024:])])]
    r = b.complete_multipart_upload("multi/big", up, parts)  # the SDK checks the combined CRC-64
    check(r.etag.endswith("-3"), r.etag)
    o = b.get_object("multi/big")
    check(o.read() == big and o.headers["x-oss-meta-kind"] == "parts" and o.headers["x-oss-object-type"] == "Multipart", dict(o.headers))
    fails("NoSuchUpload", 404, b.upload_part, "multi/big", up, 4, b"late")
    up = b.init_multipart_upload("multi/aborted").upload_id
    b.upload_part("multi/aborted", up, 1, b"small")
    b.upload_part("multi/aborted", up, 2, b"small")
    fails("EntityTooSmall", 400, b.complete_multipart_upload, "multi/aborted", up,
          [oss2.models.PartInfo(1, md5_hex(b"small")), oss2.models.PartInfo(2, md5_hex(b"small"))])
    b.abort_multipart_upload("multi/aborted", up)
    fails("NoSuchUpload", 404, b.abort_multipart_upload, "multi/aborted", up)
    check(not b.object_exists("multi/aborted"), "an aborted upload made an object")
    with tempfile.NamedTemporaryFile() as f, tempfile.TemporaryDirectory() as checkpoints:
        f.write(big * 3)
        f.flush()
        oss2.resumable_upload(b, "multi/resumable", f.name, multipart_threshold=512 * 1024,
                              part_size=512 * 1024, num_threads=2, store=oss2.ResumableStore(root=checkpoints))
    check(b.get_object("multi/resumable").read() == big * 3, "resumable upload")
    b.batch_delete_objects(["multi/big", "multi/resumable"])

    # Writers racing on one key: the last commit wins whole, never a mix.
    import threading
    versions = [bytes([65 + i]) * (300000 + i) for i in range(8)]
    errors = []

    def writer(i):
        try:
            for _ in range(3):
                bucket(BUCKET).put_object("raced", versions[i])
        except Exception as e:  # reported below
            errors.append(e)
    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check(not errors, errors)
    o = b.get_object("raced")
    body = o.read()
    check(body in versions and o.etag == md5_hex(body), "a torn object: %d bytes" % len(body))
    check([x.key for x in b.list_objects(prefix="raced").object_list] == ["raced"], "raced listed once")
    b.delete_object("raced")

    # Bucket policies: validated when put, then applied to every request.
    fails("NoSuchBucketPolicy", 404, b.get_bucket_policy)
    other_account = os.environ["OSS_OTHER_ACCOUNT"]
    policy = json.dumps({"Version": "1", "Statement": [
        {"Effect": "Allow", "Action": ["oss:GetObject"], "Principal": [other_account],
         "Resource": ["acs:oss:*:*:%s/shared/*" % BUCKET]},
        {"Effect": "Allow", "Action": ["oss:GetObject"], "Principal": ["*"],
         "Resource": ["acs:oss:*:*:%s/public/*" % BUCKET]},
        {"Effect": "Deny", "Action": ["oss:PutObject", "oss:DeleteObject"], "Principal": [ACCOUNT],
         "Resource": ["acs:oss:*:*:%s/locked/*" % BUCKET]},
        {"Effect": "Allow", "Action": ["oss:GetObject"], "Principal": [other_account],
         "Resource": ["acs:oss:*:*:%s/vpc-only/*" % BUCKET],
         "Condition": {"StringEquals": {"acs:SourceVpc": ["vpc-nowhere"]}}}]})
    b.put_object("shared/s", b"shared")
    b.put_object("public/p", b"public")
    b.put_object("vpc-only/v", b"vpc")
    b.put_object("locked/l", b"locked")
    b.put_bucket_policy(policy)
    check(json.loads(b.get_bucket_policy().policy) == json.loads(policy), "GetBucketPolicy")
    check(other.get_object("shared/s").read() == b"shared", "the policy's Allow for another account")
    fails("AccessDenied", 403, other.get_object, "a.txt")
    fails("AccessDenied", 403, other.put_object, "shared/s", b"x")
    anon = oss2.Bucket(oss2.AnonymousAuth(), ENDPOINT, BUCKET)
    check(anon.get_object("public/p").read() == b"public", "Principal * reads public/")
    fails("AccessDenied", 403, anon.get_object, "shared/s")
    fails("AccessDenied", 403, b.put_object, "locked/l", b"changed")
    fails("AccessDenied", 403, b.delete_object, "locked/l")
    check(b.get_object("locked/l").read() == b"locked", "a denied put changed the object")
    fails("AccessDenied", 403, other.get_object, "vpc-only/v")  # not from vpc-nowhere
    fails("InvalidPolicyDocument", 400, b.put_bucket_policy, '{"Version": "1", "Statement": [{"Effect": "Maybe"}]}')
    fails("InvalidPolicyDocument", 400, b.put_bucket_policy, "not json")
    check(json.loads(b.get_bucket_policy().policy) == json.loads(policy), "a refused policy changed the policy")
    fails("AccessDenied", 403, other.put_bucket_policy, policy.replace("Deny", "Allow"))
    b.delete_bucket_policy()
    fails("NoSuchBucketPolicy", 404, b.get_bucket_policy)
    fails("AccessDenied", 403, other.get_object, "shared/s")
    b.put_object("locked/l", b"unlocked")

    # Deleting: refused while objects remain.
    fails("BucketNotEmpty", 409, b.delete_bucket)
    for name in (BUCKET, COPY_BUCKET):
        bb = bucket(name)
        keys = [x.key for x in oss2.ObjectIterator(bb)]
        if keys:
            bb.batch_delete_objects(keys)
        bb.delete_bucket()
    fails("NoSuchBucket", 404, b.delete_bucket)


# ---------------------------------------------------------------- alibabacloud-oss-v2

def run_v2():
    import alibabacloud_oss_v2 as oss

    def client(ak=AK, sk=SK, **kw):
        cfg = oss.config.load_default()
        cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(ak, sk)
        cfg.region = REGION
        cfg.endpoint = ENDPOINT
        cfg.retry_max_attempts = 1
        for k, v in kw.items():
            setattr(cfg, k, v)
        return oss.Client(cfg)

    c, other = client(), client(OTHER_AK, OTHER_SK)

    def fails(code, status, f, *args, **kw):
        try:
            f(*args, **kw)
        except oss.exceptions.OperationError as e:
            se = e.unwrap()
            check(isinstance(se, oss.exceptions.ServiceError), "not a service error: %r" % se)
            check(se.code == code and se.status_code == status, "expected %s %s, got %s %s" % (code, status, se.code, se.status_code))
            check(se.request_id, "no request id")
            return se
        raise AssertionError("expected %s, the call succeeded" % code)

    c.put_bucket(oss.PutBucketRequest(bucket=BUCKET, acl="private",
                                      create_bucket_configuration=oss.CreateBucketConfiguration(storage_class="Standard")))
    c.put_bucket(oss.PutBucketRequest(bucket=COPY_BUCKET))
    fails("BucketAlreadyExists", 409, other.put_bucket, oss.PutBucketRequest(bucket=BUCKET))
    info = c.get_bucket_info(oss.GetBucketInfoRequest(bucket=BUCKET)).bucket_info
    check(info.name == BUCKET and info.location == "oss-" + REGION and info.owner.id == ACCOUNT, info)
    check(c.get_bucket_location(oss.GetBucketLocationRequest(bucket=BUCKET)).location == "oss-" + REGION, "location")
    r = c.list_buckets(oss.ListBucketsRequest(prefix=BUCKET))
    check([x.name for x in r.buckets] == [BUCKET, COPY_BUCKET], r.buckets)
    check(c.is_bucket_exist(BUCKET) and not c.is_bucket_exist(BUCKET + "-none"), "is_bucket_exist")

    for k in KEYS:
        r = c.put_object(oss.PutObjectRequest(bucket=BUCKET, key=k, body=DATA + k.encode(), metadata={"color": "blue"},
                                              content_type="text/plain"))
        check(r.etag == '"%s"' % md5_hex(DATA + k.encode()) and r.hash_crc64, (r.etag, r.hash_crc64))
    fails("BadDigest", 400, c.put_object, oss.PutObjectRequest(bucket=BUCKET, key="md5", body=b"abd", content_md5=md5_b64(b"abc")))
    fails("NotImplemented", 501, c.put_object, oss.PutObjectRequest(bucket=BUCKET, key="w", body=b"x", object_worm_mode="GOVERNANCE"))
    fails("NotImplemented", 501, c.put_object, oss.PutObjectRequest(bucket=BUCKET, key="w", body=b"x", request_payer="requester"))
    fails("NotImplemented", 501, c.get_object, oss.GetObjectRequest(bucket=BUCKET, key="a.txt", response_content_type="x/y"))
    fails("NotImplemented", 501, c.list_buckets, oss.ListBucketsRequest(tag_key="k"))
    check(not c.is_object_exist(BUCKET, "w"), "a refused put made an object")
    r = c.get_object(oss.GetObjectRequest(bucket=BUCKET, key="a.txt"))
    body = r.body.read()
    check(body == DATA + b"a.txt" and r.metadata.get("color") == "blue" and r.content_type == "text/plain", r.metadata)
    check(r.etag == '"%s"' % md5_hex(body), r.etag)
    r = c.get_object(oss.GetObjectRequest(bucket=BUCKET, key="a.txt", range_header="bytes=0-9"))
    check(r.status_code == 206 and r.body.read() == DATA[:10] and r.content_range == "bytes 0-9/%d" % (len(DATA) + 5), r.content_range)
    r = c.head_object(oss.HeadObjectRequest(bucket=BUCKET, key="dir/2"))
    check(r.content_length == len(DATA) + 5 and r.metadata.get("color") == "blue", r)
    fails("NoSuchKey", 404, c.get_object, oss.GetObjectRequest(bucket=BUCKET, key="missing"))
    fails("NoSuchKey", 404, c.head_object, oss.HeadObjectRequest(bucket=BUCKET, key="missing"))
    fails("NoSuchBucket", 404, c.get_object, oss.GetObjectRequest(bucket=BUCKET + "-none", key="a"))
    check(c.is_object_exist(BUCKET, "a.txt") and not c.is_object_exist(BUCKET, "missing"), "is_object_exist")

    r = c.list_objects(oss.ListObjectsRequest(bucket=BUCKET, delimiter="/", encoding_type="url"))
    check([x.key for x in r.contents] == ["a.txt", "odd key+%&=?.txt"], [x.key for x in r.contents])
    check([x.prefix for x in r.common_prefixes] == ["dir/", "z/"], r.common_prefixes)
    keys = []
    for page in c.list_objects_v2_paginator().iter_page(oss.ListObjectsV2Request(bucket=BUCKET, max_keys=2)):
        check(page.key_count == len(page.contents or []) + len(page.common_prefixes or []), page.key_count)
        keys += [x.key for x in page.contents or []]
    check(keys == sorted(KEYS), keys)
    keys = []
    for page in c.list_objects_paginator().iter_page(oss.ListObjectsRequest(bucket=BUCKET, max_keys=2, prefix="dir/")):
        keys += [x.key for x in page.contents or []]
    check(keys == ["dir/1", "dir/2", "dir/sub/3"], keys)
    r = c.list_objects_v2(oss.ListObjectsV2Request(bucket=BUCKET, prefix="dir/", delimiter="/", fetch_owner=True, encoding_type="url"))
    check([x.key for x in r.contents] == ["dir/1", "dir/2"] and r.contents[0].owner.id == ACCOUNT, r.contents)
    check([x.prefix for x in r.common_prefixes] == ["dir/sub/"], r.common_prefixes)

    r = c.copy_object(oss.CopyObjectRequest(bucket=COPY_BUCKET, key="c", source_bucket=BUCKET, source_key="z/\u00e9t\u00e9"))
    check(r.etag == '"%s"' % md5_hex(DATA + "z/\u00e9t\u00e9".encode()), r.etag)
    r = c.get_object(oss.GetObjectRequest(bucket=COPY_BUCKET, key="c"))
    check(r.body.read() == DATA + "z/\u00e9t\u00e9".encode() and r.metadata.get("color") == "blue", r.metadata)
    c.copy_object(oss.CopyObjectRequest(bucket=BUCKET, key="a.txt", source_bucket=BUCKET, source_key="a.txt",
                                        metadata_directive="REPLACE", metadata={"color": "red"}))
    check(c.head_object(oss.HeadObjectRequest(bucket=BUCKET, key="a.txt")).metadata.get("color") == "red", "REPLACE")

    r = c.delete_multiple_objects(oss.DeleteMultipleObjectsRequest(
        bucket=BUCKET, objects=[oss.DeleteObject(key="dir/1"), oss.DeleteObject(key="odd key+%&=?.txt")], encoding_type="url"))
    check(sorted(x.key for x in r.deleted_objects) == ["dir/1", "odd key+%&=?.txt"], r.deleted_objects)
    r = c.delete_multiple_objects(oss.DeleteMultipleObjectsRequest(bucket=BUCKET, objects=[oss.DeleteObject(key="dir/2")], quiet=True))
    check(not r.deleted_objects, r.deleted_objects)
    r = c.delete_object(oss.DeleteObjectRequest(bucket=BUCKET, key="never-there"))
    check(r.status_code == 204, r.status_code)

    fails("SignatureDoesNotMatch", 403, client(AK, SK + "x").get_object, oss.GetObjectRequest(bucket=BUCKET, key="a.txt"))
    fails("InvalidAccessKeyId", 403, client("LTAInobody", SK).get_object, oss.GetObjectRequest(bucket=BUCKET, key="a.txt"))
    fails("AccessDenied", 403, other.get_object, oss.GetObjectRequest(bucket=BUCKET, key="a.txt"))
    fails("AccessDenied", 403, other.delete_bucket, oss.DeleteBucketRequest(bucket=BUCKET))

    # Multipart through the SDK's uploader (parts in parallel, CRC-64 checked).
    big = os.urandom(1100 * 1024)
    r = c.uploader(part_size=256 * 1024, parallel_num=3).upload_from(
        oss.PutObjectRequest(bucket=BUCKET, key="multi/up"), __import__("io").BytesIO(big))
    got = c.get_object(oss.GetObjectRequest(bucket=BUCKET, key="multi/up"))
    check(got.body.read() == big and got.etag.endswith('-5"'), got.etag)
    up = c.initiate_multipart_upload(oss.InitiateMultipartUploadRequest(bucket=BUCKET, key="multi/x")).upload_id
    c.upload_part(oss.UploadPartRequest(bucket=BUCKET, key="multi/x", upload_id=up, part_number=1, body=b"only part"))
    r = c.complete_multipart_upload(oss.CompleteMultipartUploadRequest(bucket=BUCKET, key="multi/x", upload_id=up, complete_all="yes"))
    check(c.get_object(oss.GetObjectRequest(bucket=BUCKET, key="multi/x")).body.read() == b"only part", "complete-all")
    c.delete_multiple_objects(oss.DeleteMultipleObjectsRequest(bucket=BUCKET, objects=[oss.DeleteObject(key="multi/up"), oss.DeleteObject(key="multi/x")]))

    # A presigned V4 URL, fetched without the SDK.
    p = c.presign(oss.GetObjectRequest(bucket=BUCKET, key="dir/sub/3"))
    got = requests.get(p.url)
    check(got.status_code == 200 and got.content == DATA + b"dir/sub/3", (got.status_code, got.text[:300]))

    # Virtual-host addressing through the SDK's proxy setting.
    host = urllib.parse.urlparse(ENDPOINT).netloc
    vc = client(endpoint="http://" + PUBLIC_HOST, proxy_host={"http": "http://" + host})
    vc.put_object(oss.PutObjectRequest(bucket=BUCKET, key="virtual", body=b"hosted"))
    check(c.get_object(oss.GetObjectRequest(bucket=BUCKET, key="virtual")).body.read() == b"hosted", "virtual host")

    # Bucket policies.
    other_account = os.environ["OSS_OTHER_ACCOUNT"]
    policy = json.dumps({"Version": "1", "Statement": [
        {"Effect": "Allow", "Action": ["oss:GetObject", "oss:ListObjects"], "Principal": [other_account],
         "Resource": ["acs:oss:*:*:%s" % BUCKET, "acs:oss:*:*:%s/*" % BUCKET]}]})
    fails("NoSuchBucketPolicy", 404, c.get_bucket_policy, oss.GetBucketPolicyRequest(bucket=BUCKET))
    c.put_bucket_policy(oss.PutBucketPolicyRequest(bucket=BUCKET, body=policy))
    check(json.loads(c.get_bucket_policy(oss.GetBucketPolicyRequest(bucket=BUCKET)).body) == json.loads(policy), "policy")
    check(other.get_object(oss.GetObjectRequest(bucket=BUCKET, key="virtual")).body.read() == b"hosted", "allowed read")
    check([x.key for x in other.list_objects_v2(oss.ListObjectsV2Request(bucket=BUCKET, prefix="v")).contents] == ["virtual"], "allowed list")
    fails("AccessDenied", 403, other.put_object, oss.PutObjectRequest(bucket=BUCKET, key="x", body=b"x"))
    fails("InvalidPolicyDocument", 400, c.put_bucket_policy, oss.PutBucketPolicyRequest(bucket=BUCKET, body='{"Version": "2"}'))
    c.delete_bucket_policy(oss.DeleteBucketPolicyRequest(bucket=BUCKET))
    fails("AccessDenied", 403, other.get_object, oss.GetObjectRequest(bucket=BUCKET, key="virtual"))

    fails("BucketNotEmpty", 409, c.delete_bucket, oss.DeleteBucketRequest(bucket=BUCKET))
    for name in (BUCKET, COPY_BUCKET):
        keys = [x.key for page in c.list_objects_v2_paginator().iter_page(oss.ListObjectsV2Request(bucket=name)) for x in page.contents or []]
        if keys:
            c.delete_multiple_objects(oss.DeleteMultipleObjectsRequest(bucket=name, objects=[oss.DeleteObject(key=k) for k in keys]))
        c.delete_bucket(oss.DeleteBucketRequest(bucket=name))
    fails("NoSuchBucket", 404, c.delete_bucket, oss.DeleteBucketRequest(bucket=BUCKET))


# ---------------------------------------------------------------- durability (kill -9 mid-upload)

OLD = b"old version " * 87382  # about 1 MiB
BIG_CHUNKS = 96  # of 1 MiB: the new version, sent slowly


def durable_put():
    """Makes BUCKET with `big` (OLD), prints "old in place", then overwrites
    `big` with 96 MiB sent over seconds: the test kills the service
    meanwhile, so this upload never completes."""
    import time
    import oss2
    b = oss2.Bucket(oss2.Auth(AK, SK), ENDPOINT, BUCKET, enable_crc=True)
    b.create_bucket()
    b.put_object("big", OLD)
    b.put_object("small", b"kept")
    print("old in place", flush=True)

    def slowly():
        for _ in range(BIG_CHUNKS):
            time.sleep(0.05)
            yield b"N" * (1 << 20)
    try:
        b.put_object("big", slowly())
    except Exception as e:  # the service was killed: expected
        print("upload interrupted: %s" % type(e).__name__, flush=True)
        return
    raise AssertionError("the slow upload completed: the service was not killed")


def durable_check():
    """After the restart: `big` is the old version whole (ETag, CRC-64 checked
    by the SDK), `small` is kept, nothing else is listed."""
    import oss2
    b = oss2.Bucket(oss2.Auth(AK, SK), ENDPOINT, BUCKET, enable_crc=True)
    o = b.get_object("big")
    body = o.read()
    check(body == OLD, "big is not the old version: %d bytes" % len(body))
    check(o.etag == md5_hex(OLD), o.etag)
    check(b.get_object("small").read() == b"kept", "small")
    keys = [(x.key, x.size) for x in oss2.ObjectIterator(b)]
    check(keys == [("big", len(OLD)), ("small", 4)], keys)


# ---------------------------------------------------------------- one probe (policies on real traffic)

def probe():
    """One operation with OSS_SDK (oss2: path-style; v2: virtual-host), as
    OSS_WHO (owner or other), OSS_OP (create, put, get, policy: puts
    OSS_POLICY). Prints "ok" or "err CODE STATUS"."""
    ak, sk = (AK, SK) if os.environ["OSS_WHO"] == "owner" else (OTHER_AK, OTHER_SK)
    op = os.environ["OSS_OP"]
    if os.environ.get("OSS_SDK", "oss2") == "v2":
        import alibabacloud_oss_v2 as oss
        cfg = oss.config.load_default()
        cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(ak, sk)
        # Virtual-host (the default): inside an instance the daemon names
        # every bucket's host in the hosts file.
        cfg.region, cfg.endpoint, cfg.retry_max_attempts = REGION, ENDPOINT, 1
        c = oss.Client(cfg)
        try:
            if op == "create":
                c.put_bucket(oss.PutBucketRequest(bucket=BUCKET))
            elif op == "policy":
                c.put_bucket_policy(oss.PutBucketPolicyRequest(bucket=BUCKET, body=os.environ["OSS_POLICY"]))
            elif op == "put":
                c.put_object(oss.PutObjectRequest(bucket=BUCKET, key="probe", body=b"probe body"))
            elif op == "get":
                check(c.get_object(oss.GetObjectRequest(bucket=BUCKET, key="probe")).body.read() == b"probe body", "probe body")
            else:
                raise SystemExit("unknown OSS_OP " + op)
            print("ok")
        except oss.exceptions.OperationError as e:
            se = e.unwrap()
            if not isinstance(se, oss.exceptions.ServiceError):
                raise
            print("err %s %s" % (se.code, se.status_code))
        return
    import oss2
    b = oss2.Bucket(oss2.Auth(ak, sk), ENDPOINT, BUCKET, is_path_style=True, enable_crc=True)
    try:
        if op == "create":
            b.create_bucket()
        elif op == "policy":
            b.put_bucket_policy(os.environ["OSS_POLICY"])
        elif op == "put":
            b.put_object("probe", b"probe body")
        elif op == "get":
            check(b.get_object("probe").read() == b"probe body", "probe body")
        else:
            raise SystemExit("unknown OSS_OP " + op)
        print("ok")
    except oss2.exceptions.OssError as e:
        print("err %s %s" % (e.code, e.status))


if MODE == "probe":
    probe()
    raise SystemExit(0)
if MODE == "durable-put":
    durable_put()
    raise SystemExit(0)
if MODE == "durable-check":
    durable_check()
    print("ok " + MODE)
    raise SystemExit(0)
if MODE == "oss2-v1":
    run_oss2(False)
elif MODE == "oss2-v4":
    run_oss2(True)
elif MODE == "v2":
    run_v2()
else:
    raise SystemExit("unknown mode " + MODE)
print("ok " + MODE)
