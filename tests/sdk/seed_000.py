#!/usr/bin/env python3
"""Seed 000's walkthrough (gateway endpoint + bucket policy, POL-3) through
the official SDKs, unmodified.

    python seed_000.py endpoint VPC_ID ROUTE_TABLE_ID BUCKET ACCOUNT
        The VPC SDK (alibabacloud_vpc20160428): CreateVpcGatewayEndpoint
        for the object storage service with seed 000's endpoint policy
        (only ACCOUNT, only BUCKET), AssociateRouteTablesWithVpcGatewayEndpoint,
        then GetVpcGatewayEndpointAttribute and DescribeRouteEntryList
        (GWE-2: the system-added route to the endpoint). Environment as
        vpc_lab.py's. Prints one JSON line {"EndpointId": ...}.

    python seed_000.py oss SDK HOST BUCKET OP [ARG]
        Run inside an instance namespace (`ip netns exec`): one object
        storage call with SDK `oss2` (signature V1) or `v2`
        (alibabacloud-oss-v2, signature V4) to http://HOST, region
        cn-hangzhou, keys OSS_AK/OSS_SK. OP: create (PutBucket, path-style:
        the bucket's name resolves only once it exists), policy (PutBucketPolicy
        with seed 000's bucket policy for BUCKET, ARG the authorised VPC and
        OSS_ACCOUNT the authorised account), put (PutObject ARG), get (GetObject
        ARG), list (ListObjects). Prints one JSON line: {"ok": true, ...} or
        {"ok": false, "code": ..., "status": ...} for the service's refusal.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402,F401  (first: clears the proxy variables)

REGION = "cn-hangzhou"
BODY = b"seed 000: from the authorised VPC\n" * 100


def endpoint_policy(bucket, account):
    """Seed 000, step 1.5: only ACCOUNT, only BUCKET (POL-3)."""
    return json.dumps({
        "Version": "1",
        "Statement": [{
            "Effect": "Allow",
            "Action": "oss:*",
            "Resource": ["acs:oss:*:*:%s" % bucket, "acs:oss:*:*:%s/*" % bucket],
            "Principal": [account],
        }],
    })


def bucket_policy(bucket, account, vpc):
    """Seed 000, step 2.3: deny the object actions to everyone outside VPC,
    allow ACCOUNT from VPC (POL-3)."""
    resources = ["acs:oss:*:*:%s" % bucket, "acs:oss:*:*:%s/*" % bucket]
    return json.dumps({
        "Version": "1",
        "Statement": [
            {"Effect": "Deny",
             "Action": ["oss:ListObjects", "oss:GetObject", "oss:PutObject", "oss:DeleteObject"],
             "Resource": resources, "Principal": ["*"],
             "Condition": {"StringNotEquals": {"acs:SourceVpc": [vpc]}}},
            {"Effect": "Allow", "Action": ["oss:*"], "Resource": resources, "Principal": [account],
             "Condition": {"StringEquals": {"acs:SourceVpc": [vpc]}}},
        ],
    })


def endpoint(vpc_id, table_id, bucket, account):
    from vpc_lab import vpc_client, runtime
    from alibabacloud_vpc20160428 import models as m
    c, rt = vpc_client(), runtime()
    service = "com.aliyun.%s.oss" % REGION
    names = [s.service_name for s in c.list_vpc_endpoint_services_by_end_user_with_options(
        m.ListVpcEndpointServicesByEndUserRequest(region_id=REGION), rt).body.services]
    assert service in names, names
    policy = endpoint_policy(bucket, account)
    ep = c.create_vpc_gateway_endpoint_with_options(m.CreateVpcGatewayEndpointRequest(
        region_id=REGION, vpc_id=vpc_id, service_name=service, endpoint_name="seed-000",
        policy_document=policy), rt).body.endpoint_id
    c.associate_route_tables_with_vpc_gateway_endpoint_with_options(
        m.AssociateRouteTablesWithVpcGatewayEndpointRequest(region_id=REGION, endpoint_id=ep, route_table_ids=[table_id]), rt)
    attr = c.get_vpc_gateway_endpoint_attribute_with_options(
        m.GetVpcGatewayEndpointAttributeRequest(region_id=REGION, endpoint_id=ep), rt).body
    assert attr.route_tables == [table_id], attr.route_tables
    assert json.loads(attr.policy_document) == json.loads(policy), attr.policy_document
    entries = c.describe_route_entry_list_with_options(
        m.DescribeRouteEntryListRequest(region_id=REGION, route_table_id=table_id), rt).body.route_entrys.route_entry
    hops = [(e.destination_cidr_block, h.next_hop_type, h.next_hop_id)
            for e in entries for h in e.next_hops.next_hop]
    mine = [h for h in hops if h[1] == "GatewayEndpoint" and h[2] == ep]
    assert len(mine) == 1 and mine[0][0].startswith("pl-"), hops
    print(json.dumps({"EndpointId": ep, "Route": mine[0]}))


def oss_call(sdk, host, bucket, op, arg):
    ak, sk = os.environ["OSS_AK"], os.environ["OSS_SK"]
    path_style = op == "create"
    if sdk == "oss2":
        import oss2
        b = oss2.Bucket(oss2.Auth(ak, sk), "http://" + host, bucket, region=REGION, enable_crc=True,
                        is_path_style=path_style, connect_timeout=10)
        try:
            if op == "create":
                b.create_bucket(oss2.BUCKET_ACL_PRIVATE)
            elif op == "policy":
                b.put_bucket_policy(bucket_policy(bucket, os.environ["OSS_ACCOUNT"], arg))
            elif op == "put":
                b.put_object(arg, BODY)
            elif op == "get":
                got = b.get_object(arg).read()
                assert got == BODY, "GetObject answered other bytes"
            elif op == "list":
                return {"ok": True, "keys": [o.key for o in b.list_objects().object_list]}
            return {"ok": True}
        except oss2.exceptions.OssError as e:
            if not e.code:
                raise
            return {"ok": False, "code": e.code, "status": e.status}
    import alibabacloud_oss_v2 as oss
    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(ak, sk)
    cfg.region = REGION
    cfg.endpoint = host
    cfg.disable_ssl = True
    cfg.use_path_style = path_style
    cfg.retry_max_attempts = 1
    c = oss.Client(cfg)
    try:
        if op == "create":
            c.put_bucket(oss.PutBucketRequest(bucket=bucket, acl="private"))
        elif op == "policy":
            c.put_bucket_policy(oss.PutBucketPolicyRequest(
                bucket=bucket, body=bucket_policy(bucket, os.environ["OSS_ACCOUNT"], arg)))
        elif op == "put":
            c.put_object(oss.PutObjectRequest(bucket=bucket, key=arg, body=BODY))
        elif op == "get":
            got = c.get_object(oss.GetObjectRequest(bucket=bucket, key=arg)).body.read()
            assert got == BODY, "GetObject answered other bytes"
        elif op == "list":
            r = c.list_objects(oss.ListObjectsRequest(bucket=bucket))
            return {"ok": True, "keys": [o.key for o in (r.contents or [])]}
        return {"ok": True}
    except oss.exceptions.OperationError as e:
        se = e.unwrap()
        if not isinstance(se, oss.exceptions.ServiceError):
            raise
        return {"ok": False, "code": se.code, "status": se.status_code}


def main():
    if sys.argv[1] == "endpoint":
        endpoint(*sys.argv[2:6])
    else:
        sdk, host, bucket, op = sys.argv[2:6]
        print(json.dumps(oss_call(sdk, host, bucket, op, sys.argv[6] if len(sys.argv) > 6 else None)))


if __name__ == "__main__":
    main()
