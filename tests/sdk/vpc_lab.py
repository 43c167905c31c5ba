#!/usr/bin/env python3
"""Drive the vpc-router daemon through the *official* Alibaba Cloud Python SDKs.

Only alibabacloud_vpc20160428 / alibabacloud_ecs20140526 clients and their
request/response models are used, so whatever passes here also works for a
real user of those SDKs.

Environment:
  VPC_ENDPOINT           host:port of the daemon, e.g. 127.0.0.1:18080 (no scheme)
  VPC_ACCESS_KEY_ID      access key id
  VPC_ACCESS_KEY_SECRET  access key secret
  VPC_REGION_ID          region (default cn-hangzhou); set on every request,
                         because the SDK does not inject config.region_id
  VPC_SDK_TIMEOUT_MS     read timeout in ms (default 5000; connect = min(2000, it))

Exit status: 0 ok; 1 unexpected SDK/transport error (code/message/data on
stderr); 3 a response did not match expectations (details on stderr);
2 usage error.
"""

import argparse
import json
import os
import sys

# The SDK honours HTTP(S)_PROXY itself (and ignores NO_PROXY); the daemon is
# always local, so never go through a proxy.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (  # noqa: E402  (first: it clears the proxy variables the SDKs read)
    EXIT_MISMATCH, EXIT_SDK_ERROR, LAB_IMAGE_ID, LAB_INSTANCE_TYPE, LAB_VPC_CIDR, PAGE_SIZE, Mismatch, env, expect, log, region,
)

from alibabacloud_tea_openapi.utils_models import Config  # noqa: E402
from darabonba.runtime import RuntimeOptions  # noqa: E402
from alibabacloud_vpc20160428.client import Client as VpcClient  # noqa: E402
from alibabacloud_vpc20160428 import models as vpc_models  # noqa: E402
from alibabacloud_ecs20140526.client import Client as EcsClient  # noqa: E402
from alibabacloud_ecs20140526 import models as ecs_models  # noqa: E402

import conformance  # noqa: E402

# Every answer is checked against the SDK's response model as it arrives.
conformance.install()

LAB_VPC_NAME = "lab"
LAB_VSWITCHES = {  # name -> (cidr, zone)
    "web": ("10.0.1.0/24", "cn-hangzhou-a"),
    "app": ("10.0.2.0/24", "cn-hangzhou-b"),
}
LAB_INSTANCES = {  # name -> (vswitch name, private ip)
    "web": ("web", "10.0.1.10"),
    "app": ("app", "10.0.2.10"),
    "db": ("app", "10.0.2.20"),
}


# --------------------------------------------------------------------------
# plumbing


def timeout_ms():
    return int(os.environ.get("VPC_SDK_TIMEOUT_MS") or "5000")


def make_config(secret=None):
    t = timeout_ms()
    return Config(
        access_key_id=env("VPC_ACCESS_KEY_ID"),
        access_key_secret=secret if secret is not None else env("VPC_ACCESS_KEY_SECRET"),
        endpoint=env("VPC_ENDPOINT"),
        protocol="http",
        region_id=region(),
        read_timeout=t,
        connect_timeout=min(2000, t),
        # retry_options left unset => exactly one attempt per call.
    )


def runtime():
    t = timeout_ms()
    return RuntimeOptions(
        autoretry=False,
        max_attempts=0,
        read_timeout=t,
        connect_timeout=min(2000, t),
    )


def vpc_client(secret=None):
    return VpcClient(make_config(secret))


def ecs_client():
    return EcsClient(make_config())


def body_of(resp, action):
    """The SDK silently sets body=None when the JSON shape does not fit the model."""
    body = getattr(resp, "body", None)
    if body is None:
        raw = getattr(resp, "_map", None)
        raise Mismatch(f"{action}: SDK could not map the response body onto its model "
                       f"(shape mismatch?); raw={raw!r}")
    return body


def sdk_error_info(exc):
    return {
        "type": type(exc).__name__,
        "code": getattr(exc, "code", None),
        "status": getattr(exc, "status_code", None),
        "message": getattr(exc, "message", None) or str(exc),
        "request_id": getattr(exc, "request_id", None),
        "data": getattr(exc, "data", None),
    }


# --------------------------------------------------------------------------
# paginated listings (PageNumber/PageSize/TotalCount)


def _paged(fetch, items_of):
    out, page = [], 1
    while True:
        body = fetch(page)
        items = items_of(body)
        out.extend(items)
        total = body.total_count
        if total is None or not items or len(out) >= int(total) or page >= 100:
            return out
        page += 1


def list_vpcs(vpc, rt, vpc_id=None):
    def fetch(page):
        req = vpc_models.DescribeVpcsRequest(region_id=region(), vpc_id=vpc_id,
                                             page_number=page, page_size=PAGE_SIZE)
        return body_of(vpc.describe_vpcs_with_options(req, rt), "DescribeVpcs")
    return _paged(fetch, lambda b: (b.vpcs.vpc if b.vpcs and b.vpcs.vpc else []))


def list_vswitches(vpc, rt, vpc_id):
    def fetch(page):
        req = vpc_models.DescribeVSwitchesRequest(region_id=region(), vpc_id=vpc_id,
                                                  page_number=page, page_size=PAGE_SIZE)
        return body_of(vpc.describe_vswitches_with_options(req, rt), "DescribeVSwitches")
    return _paged(fetch, lambda b: (b.v_switches.v_switch if b.v_switches and b.v_switches.v_switch else []))


def list_route_tables(vpc, rt, vpc_id):
    def fetch(page):
        req = vpc_models.DescribeRouteTableListRequest(region_id=region(), vpc_id=vpc_id,
                                                       page_number=page, page_size=PAGE_SIZE)
        return body_of(vpc.describe_route_table_list_with_options(req, rt), "DescribeRouteTableList")
    return _paged(fetch, lambda b: (b.router_table_list.router_table_list_type
                                    if b.router_table_list and b.router_table_list.router_table_list_type else []))


def list_instances(ecs, rt, vpc_id):
    def fetch(page):
        req = ecs_models.DescribeInstancesRequest(region_id=region(), vpc_id=vpc_id,
                                                  page_number=page, page_size=PAGE_SIZE)
        return body_of(ecs.describe_instances_with_options(req, rt), "DescribeInstances")
    return _paged(fetch, lambda b: (b.instances.instance if b.instances and b.instances.instance else []))


# --------------------------------------------------------------------------
# subcommands


def cmd_build_lab(_args):
    vpc, ecs, rt = vpc_client(), ecs_client(), runtime()
    state = {"VpcId": None, "VSwitchIds": {}, "InstanceIds": {}, "RouteTableId": None}
    try:
        _build(vpc, ecs, rt, state)
    except BaseException:
        # Leave enough on stderr for the caller to tear down a half-built lab.
        log("partial lab state: " + json.dumps(state))
        raise
    print(json.dumps(state, sort_keys=True))
    return 0


def _build(vpc, ecs, rt, state):
    # ---- create
    body = body_of(vpc.create_vpc_with_options(vpc_models.CreateVpcRequest(
        region_id=region(), cidr_block=LAB_VPC_CIDR, vpc_name=LAB_VPC_NAME), rt), "CreateVpc")
    expect(isinstance(body.vpc_id, str) and body.vpc_id, f"CreateVpc: no VpcId in response: {body.to_map()}")
    vpc_id = state["VpcId"] = body.vpc_id
    created_rtb = body.route_table_id  # optional in the API; checked below if present

    for name, (cidr, zone) in LAB_VSWITCHES.items():
        body = body_of(vpc.create_vswitch_with_options(vpc_models.CreateVSwitchRequest(
            region_id=region(), vpc_id=vpc_id, cidr_block=cidr, zone_id=zone,
            v_switch_name=name), rt), "CreateVSwitch")
        expect(isinstance(body.v_switch_id, str) and body.v_switch_id,
               f"CreateVSwitch {name}: no VSwitchId in response: {body.to_map()}")
        state["VSwitchIds"][name] = body.v_switch_id

    for name, (vsw_name, ip) in LAB_INSTANCES.items():
        vsw_id = state["VSwitchIds"][vsw_name]
        body = body_of(ecs.run_instances_with_options(ecs_models.RunInstancesRequest(
            region_id=region(), zone_id=LAB_VSWITCHES[vsw_name][1], image_id=LAB_IMAGE_ID,
            instance_type=LAB_INSTANCE_TYPE, instance_name=name, v_switch_id=vsw_id,
            private_ip_address=ip, amount=1), rt), "RunInstances")
        ids = body.instance_id_sets.instance_id_set if body.instance_id_sets else None
        expect(isinstance(ids, list) and len(ids) == 1 and isinstance(ids[0], str) and ids[0],
               f"RunInstances {name}: expected InstanceIdSets.InstanceIdSet with one id, got {body.to_map()}")
        state["InstanceIds"][name] = ids[0]

    # ---- verify through the Describe* calls
    vpcs = [v for v in list_vpcs(vpc, rt) if v.vpc_id == vpc_id]
    expect(len(vpcs) == 1, f"DescribeVpcs: VPC {vpc_id} listed {len(vpcs)} times")
    v = vpcs[0]
    expect(v.cidr_block == LAB_VPC_CIDR, f"DescribeVpcs: CidrBlock {v.cidr_block!r} != {LAB_VPC_CIDR!r}")
    expect(v.vpc_name == LAB_VPC_NAME, f"DescribeVpcs: VpcName {v.vpc_name!r} != {LAB_VPC_NAME!r}")
    vpc_vsw = (v.v_switch_ids.v_switch_id if v.v_switch_ids and v.v_switch_ids.v_switch_id else [])
    for name, vsw_id in state["VSwitchIds"].items():
        expect(vsw_id in vpc_vsw, f"DescribeVpcs: VSwitchIds.VSwitchId {vpc_vsw!r} lacks {name}={vsw_id}")
    by_id = [x for x in list_vpcs(vpc, rt, vpc_id=vpc_id)]
    expect([x.vpc_id for x in by_id] == [vpc_id],
           f"DescribeVpcs(VpcId={vpc_id}) returned {[x.vpc_id for x in by_id]!r}")

    vsws = {s.v_switch_id: s for s in list_vswitches(vpc, rt, vpc_id)}
    expect(set(vsws) == set(state["VSwitchIds"].values()),
           f"DescribeVSwitches(VpcId): got {sorted(vsws)!r}, want {sorted(state['VSwitchIds'].values())!r}")
    for name, (cidr, zone) in LAB_VSWITCHES.items():
        s = vsws[state["VSwitchIds"][name]]
        expect(s.cidr_block == cidr, f"DescribeVSwitches {name}: CidrBlock {s.cidr_block!r} != {cidr!r}")
        expect(s.vpc_id == vpc_id, f"DescribeVSwitches {name}: VpcId {s.vpc_id!r} != {vpc_id!r}")
        expect(s.zone_id == zone, f"DescribeVSwitches {name}: ZoneId {s.zone_id!r} != {zone!r}")
        expect(s.v_switch_name == name, f"DescribeVSwitches {name}: VSwitchName {s.v_switch_name!r} != {name!r}")

    insts = {i.instance_id: i for i in list_instances(ecs, rt, vpc_id)}
    expect(set(insts) == set(state["InstanceIds"].values()),
           f"DescribeInstances(VpcId): got {sorted(insts)!r}, want {sorted(state['InstanceIds'].values())!r}")
    for name, (vsw_name, ip) in LAB_INSTANCES.items():
        i = insts[state["InstanceIds"][name]]
        va = i.vpc_attributes
        expect(va is not None, f"DescribeInstances {name}: no VpcAttributes")
        ips = va.private_ip_address.ip_address if va.private_ip_address and va.private_ip_address.ip_address else []
        expect(ips == [ip], f"DescribeInstances {name}: VpcAttributes.PrivateIpAddress.IpAddress {ips!r} != {[ip]!r}")
        expect(va.vpc_id == vpc_id, f"DescribeInstances {name}: VpcAttributes.VpcId {va.vpc_id!r} != {vpc_id!r}")
        want_vsw = state["VSwitchIds"][vsw_name]
        expect(va.v_switch_id == want_vsw,
               f"DescribeInstances {name}: VpcAttributes.VSwitchId {va.v_switch_id!r} != {want_vsw!r}")
        expect(i.instance_name == name, f"DescribeInstances {name}: InstanceName {i.instance_name!r} != {name!r}")

    rtbs = list_route_tables(vpc, rt, vpc_id)
    expect(rtbs, f"DescribeRouteTableList(VpcId={vpc_id}): no route tables")
    for t in rtbs:
        expect(t.vpc_id in (None, vpc_id), f"DescribeRouteTableList: table {t.route_table_id} has VpcId {t.vpc_id!r}")
    system = [t for t in rtbs if t.route_table_type == "System"]
    expect(len(system) == 1 or (not system and len(rtbs) == 1),
           f"DescribeRouteTableList: expected one System route table, got "
           f"{[(t.route_table_id, t.route_table_type) for t in rtbs]!r}")
    rtb_id = (system or rtbs)[0].route_table_id
    expect(isinstance(rtb_id, str) and rtb_id, "DescribeRouteTableList: RouteTableId missing")
    if created_rtb:
        expect(created_rtb == rtb_id, f"CreateVpc RouteTableId {created_rtb!r} != listed system table {rtb_id!r}")
    state["RouteTableId"] = rtb_id


def cmd_teardown(args):
    vpc, ecs, rt = vpc_client(), ecs_client(), runtime()
    vpc_id = args.vpc_id
    done = {"VpcId": vpc_id, "InstanceIds": [], "VSwitchIds": []}
    for inst in list_instances(ecs, rt, vpc_id):
        ecs.delete_instance_with_options(ecs_models.DeleteInstanceRequest(
            instance_id=inst.instance_id, force=True), rt)
        done["InstanceIds"].append(inst.instance_id)
    for vsw in list_vswitches(vpc, rt, vpc_id):
        vpc.delete_vswitch_with_options(vpc_models.DeleteVSwitchRequest(
            region_id=region(), v_switch_id=vsw.v_switch_id), rt)
        done["VSwitchIds"].append(vsw.v_switch_id)
    vpc.delete_vpc_with_options(vpc_models.DeleteVpcRequest(region_id=region(), vpc_id=vpc_id), rt)
    print(json.dumps(done, sort_keys=True))
    return 0


def _alter_one_char(secret):
    last = secret[-1]
    return secret[:-1] + ("B" if last != "B" else "C")


def cmd_wrong_secret(_args):
    bad = _alter_one_char(env("VPC_ACCESS_KEY_SECRET"))
    vpc, rt = vpc_client(secret=bad), runtime()
    try:
        vpc.describe_vpcs_with_options(vpc_models.DescribeVpcsRequest(region_id=region()), rt)
    except Exception as exc:  # noqa: BLE001 - we classify below
        info = sdk_error_info(exc)
        if info["code"] is None:  # transport error, not an API error response
            raise
        print(json.dumps({"code": info["code"], "status": info["status"], "message": info["message"]}))
        if info["code"] == "SignatureDoesNotMatch":
            return 0
        log(f"wrong-secret: expected SignatureDoesNotMatch, got {json.dumps(info, default=str)}")
        return EXIT_MISMATCH
    print(json.dumps({"code": None, "message": "call succeeded with a wrong secret"}))
    log("wrong-secret: DescribeVpcs succeeded although the secret was altered")
    return EXIT_MISMATCH


def _expect_error(label, want_code, call):
    try:
        call()
    except Exception as exc:  # noqa: BLE001
        info = sdk_error_info(exc)
        if info["code"] is None:  # transport error, not an API error response
            raise
        return {"call": label, "want": want_code, "code": info["code"], "status": info["status"],
                "message": info["message"], "ok": info["code"] == want_code}
    return {"call": label, "want": want_code, "code": None, "status": None,
            "message": "call succeeded", "ok": False}


def cmd_error_codes(_args):
    vpc, rt = vpc_client(), runtime()
    results = [
        _expect_error("CreateVpc(CidrBlock=10.0.0.0/33)", "InvalidCidrBlock.Malformed",
                      lambda: vpc.create_vpc_with_options(vpc_models.CreateVpcRequest(
                          region_id=region(), cidr_block="10.0.0.0/33", vpc_name="bad"), rt)),
        _expect_error("DeleteVpc(VpcId=vpc-doesnotexist)", "InvalidVpcId.NotFound",
                      lambda: vpc.delete_vpc_with_options(vpc_models.DeleteVpcRequest(
                          region_id=region(), vpc_id="vpc-doesnotexist"), rt)),
    ]
    ok = all(r["ok"] for r in results)
    print(json.dumps({"ok": ok, "results": results}))
    return 0 if ok else EXIT_MISMATCH


# --------------------------------------------------------------------------
# sg-acl: security groups (ECS SDK) and network ACLs (VPC SDK)

SGACL_VPC_CIDR = "10.9.0.0/16"
SGACL_VSW_CIDR = "10.9.1.0/24"
SGACL_ZONE = "cn-hangzhou-a"


def _raw(resp):
    """What the daemon sent, as far as the SDK kept it (for mismatch reports)."""
    body = getattr(resp, "body", None)
    if body is not None:
        return body.to_map()
    return getattr(resp, "_map", None)


def _field(resp, action, path):
    """Walk `path` (attribute names) on resp.body; a None on the way is a wire-shape bug."""
    obj = body_of(resp, action)
    walked = "body"
    for attr in path.split("."):
        obj = getattr(obj, attr, None)
        walked += "." + attr
        if obj is None:
            raise Mismatch(f"{action}: response model field {walked} is missing/None; "
                           f"the daemon sent {json.dumps(_raw(resp), default=str)}")
    return obj


def _sg_rules(ecs, rt, sg_id):
    resp = ecs.describe_security_group_attribute_with_options(ecs_models.DescribeSecurityGroupAttributeRequest(
        region_id=region(), security_group_id=sg_id, direction="all"), rt)
    body = body_of(resp, "DescribeSecurityGroupAttribute")
    expect(body.security_group_id == sg_id,
           f"DescribeSecurityGroupAttribute: SecurityGroupId {body.security_group_id!r} != {sg_id!r}")
    perms = _field(resp, "DescribeSecurityGroupAttribute", "permissions.permission")
    expect(isinstance(perms, list), f"DescribeSecurityGroupAttribute: Permissions.Permission is not a list: {_raw(resp)}")
    return body, perms


def _rule_key(r):
    peer = r.source_cidr_ip if r.direction == "ingress" else r.dest_cidr_ip
    return (r.direction, r.ip_protocol, r.port_range, peer, r.policy, r.priority)


def _list_sgs(ecs, rt, vpc_id):
    def fetch(page):
        req = ecs_models.DescribeSecurityGroupsRequest(region_id=region(), vpc_id=vpc_id,
                                                       page_number=page, page_size=PAGE_SIZE)
        return body_of(ecs.describe_security_groups_with_options(req, rt), "DescribeSecurityGroups")
    return _paged(fetch, lambda b: (b.security_groups.security_group
                                    if b.security_groups and b.security_groups.security_group else []))


def _ecs_count(ecs, rt, vpc_id, sg_id):
    groups = [g for g in _list_sgs(ecs, rt, vpc_id) if g.security_group_id == sg_id]
    expect(len(groups) == 1, f"DescribeSecurityGroups(VpcId={vpc_id}): group {sg_id} listed {len(groups)} times")
    g = groups[0]
    expect(g.ecs_count is not None,
           f"DescribeSecurityGroups: SecurityGroups.SecurityGroup[{sg_id}].EcsCount missing: {g.to_map()}")
    return g


def _acl_entries(where, attr, kind):
    """kind: 'ingress' or 'egress' -> list of entry models (never None)."""
    holder = getattr(attr, f"{kind}_acl_entries", None)
    expect(holder is not None, f"{where}: {kind.capitalize()}AclEntries missing: {attr.to_map()}")
    entries = getattr(holder, f"{kind}_acl_entry", None)
    expect(isinstance(entries, list),
           f"{where}: {kind.capitalize()}AclEntries.{kind.capitalize()}AclEntry is not a list: {attr.to_map()}")
    return entries


def _check_acl(where, a, acl_id, vpc_id, vsw_id):
    """Checks one NetworkAcl / NetworkAclAttribute model."""
    expect(a.network_acl_id == acl_id, f"{where}: NetworkAclId {a.network_acl_id!r} != {acl_id!r}")
    expect(a.vpc_id == vpc_id, f"{where}: VpcId {a.vpc_id!r} != {vpc_id!r}")
    ingress = _acl_entries(where, a, "ingress")
    egress = _acl_entries(where, a, "egress")
    ing_custom = [(e.policy, e.protocol, e.port, e.source_cidr_ip) for e in ingress if e.entry_type == "custom"]
    ing_system = [e for e in ingress if e.entry_type == "system"]
    want_ing = [("accept", "tcp", "22/22", SGACL_VPC_CIDR), ("drop", "all", "-1/-1", "0.0.0.0/0")]
    expect(len(ingress) == 3 and ing_custom == want_ing and len(ing_system) == 1,
           f"{where}: ingress entries: want 2 custom {want_ing!r} (in order) + 1 system, got "
           f"{[e.to_map() for e in ingress]!r}")
    eg_custom = [(e.policy, e.protocol, e.port, e.destination_cidr_ip) for e in egress if e.entry_type == "custom"]
    want_eg = [("drop", "udp", "53/53", "0.0.0.0/0")]
    expect(eg_custom == want_eg, f"{where}: custom egress entries: want {want_eg!r}, got "
                                 f"{[e.to_map() for e in egress]!r}")
    expect(a.resources is not None and isinstance(a.resources.resource, list),
           f"{where}: Resources.Resource missing: {a.to_map()}")
    res = [(r.resource_id, r.resource_type) for r in a.resources.resource]
    expect(res == [(vsw_id, "VSwitch")], f"{where}: Resources.Resource {res!r} != {[(vsw_id, 'VSwitch')]!r}")
    return {"Ingress": len(ingress), "Egress": len(egress)}


def cmd_sg_acl(_args):
    vpc, ecs, rt = vpc_client(), ecs_client(), runtime()
    state = {"VpcId": None, "VSwitchId": None, "SecurityGroupIds": {}, "InstanceId": None, "NetworkAclId": None}
    try:
        checks = _sg_acl(vpc, ecs, rt, state)
    except BaseException:
        log("partial sg-acl state: " + json.dumps(state))
        raise
    print(json.dumps({"ok": True, **state, "checks": checks}, sort_keys=True, default=str))
    return 0


def _sg_acl(vpc, ecs, rt, state):
    checks = {}
    # ---- network
    resp = vpc.create_vpc_with_options(vpc_models.CreateVpcRequest(
        region_id=region(), cidr_block=SGACL_VPC_CIDR, vpc_name="sgacl"), rt)
    vpc_id = state["VpcId"] = _field(resp, "CreateVpc", "vpc_id")
    resp = vpc.create_vswitch_with_options(vpc_models.CreateVSwitchRequest(
        region_id=region(), vpc_id=vpc_id, cidr_block=SGACL_VSW_CIDR, zone_id=SGACL_ZONE,
        v_switch_name="sgacl"), rt)
    vsw_id = state["VSwitchId"] = _field(resp, "CreateVSwitch", "v_switch_id")

    # ---- security group "web" and its rules
    resp = ecs.create_security_group_with_options(ecs_models.CreateSecurityGroupRequest(
        region_id=region(), vpc_id=vpc_id, security_group_name="web", security_group_type="normal"), rt)
    web = state["SecurityGroupIds"]["web"] = _field(resp, "CreateSecurityGroup", "security_group_id")

    body_of(ecs.authorize_security_group_with_options(ecs_models.AuthorizeSecurityGroupRequest(
        region_id=region(), security_group_id=web, permissions=[
            ecs_models.AuthorizeSecurityGroupRequestPermissions(
                ip_protocol="icmp", port_range="-1/-1", source_cidr_ip="0.0.0.0/0"),
            ecs_models.AuthorizeSecurityGroupRequestPermissions(
                ip_protocol="tcp", port_range="22/22", source_cidr_ip="10.0.0.0/8", priority="5"),
        ]), rt), "AuthorizeSecurityGroup")
    body_of(ecs.authorize_security_group_egress_with_options(ecs_models.AuthorizeSecurityGroupEgressRequest(
        region_id=region(), security_group_id=web, ip_protocol="tcp", port_range="25/25",
        dest_cidr_ip="0.0.0.0/0", policy="drop"), rt), "AuthorizeSecurityGroupEgress")

    body, perms = _sg_rules(ecs, rt, web)
    want = {
        ("ingress", "ICMP", "-1/-1", "0.0.0.0/0", "Accept", "1"),
        ("ingress", "TCP", "22/22", "10.0.0.0/8", "Accept", "5"),
        ("egress", "TCP", "25/25", "0.0.0.0/0", "Drop", "1"),
    }
    got = [_rule_key(r) for r in perms]
    expect(len(got) == 3 and set(got) == want,
           f"DescribeSecurityGroupAttribute(Direction=all): rules (Direction, IpProtocol, PortRange, peer, Policy, "
           f"Priority) want {sorted(want)!r}, got {got!r}; raw {[r.to_map() for r in perms]!r}")
    expect(all(isinstance(r.security_group_rule_id, str) and r.security_group_rule_id for r in perms),
           f"DescribeSecurityGroupAttribute: a rule lacks SecurityGroupRuleId: {[r.to_map() for r in perms]!r}")
    expect(body.inner_access_policy == "Accept",
           f"DescribeSecurityGroupAttribute: InnerAccessPolicy {body.inner_access_policy!r} != 'Accept'")
    checks["Rules"] = len(perms)

    # ---- an instance in the group
    resp = ecs.run_instances_with_options(ecs_models.RunInstancesRequest(
        region_id=region(), zone_id=SGACL_ZONE, image_id=LAB_IMAGE_ID, instance_type=LAB_INSTANCE_TYPE,
        instance_name="sgacl", v_switch_id=vsw_id, security_group_ids=[web], amount=1), rt)
    ids = _field(resp, "RunInstances", "instance_id_sets.instance_id_set")
    expect(isinstance(ids, list) and len(ids) == 1 and isinstance(ids[0], str) and ids[0],
           f"RunInstances: expected InstanceIdSets.InstanceIdSet with one id, got {_raw(resp)}")
    inst = state["InstanceId"] = ids[0]

    g = _ecs_count(ecs, rt, vpc_id, web)
    expect(g.ecs_count == 1, f"DescribeSecurityGroups: web EcsCount {g.ecs_count!r} != 1")
    expect(g.security_group_name == "web", f"DescribeSecurityGroups: SecurityGroupName {g.security_group_name!r} != 'web'")
    expect(g.vpc_id == vpc_id, f"DescribeSecurityGroups: VpcId {g.vpc_id!r} != {vpc_id!r}")

    # ---- policy, revoke
    body_of(ecs.modify_security_group_policy_with_options(ecs_models.ModifySecurityGroupPolicyRequest(
        region_id=region(), security_group_id=web, inner_access_policy="Drop"), rt), "ModifySecurityGroupPolicy")
    ssh = [r.security_group_rule_id for r in perms if r.port_range == "22/22"]
    body_of(ecs.revoke_security_group_with_options(ecs_models.RevokeSecurityGroupRequest(
        region_id=region(), security_group_id=web, security_group_rule_id=ssh), rt), "RevokeSecurityGroup")
    body, perms = _sg_rules(ecs, rt, web)
    got = sorted(_rule_key(r) for r in perms)
    want_left = sorted(want - {("ingress", "TCP", "22/22", "10.0.0.0/8", "Accept", "5")})
    expect(got == want_left, f"after RevokeSecurityGroup(SecurityGroupRuleId={ssh}): rules {got!r} != {want_left!r}")
    expect(body.inner_access_policy == "Drop",
           f"after ModifySecurityGroupPolicy: InnerAccessPolicy {body.inner_access_policy!r} != 'Drop'")

    # ---- second group, join / leave
    resp = ecs.create_security_group_with_options(ecs_models.CreateSecurityGroupRequest(
        region_id=region(), vpc_id=vpc_id, security_group_name="db", security_group_type="normal"), rt)
    db = state["SecurityGroupIds"]["db"] = _field(resp, "CreateSecurityGroup", "security_group_id")
    body_of(ecs.join_security_group_with_options(ecs_models.JoinSecurityGroupRequest(
        region_id=region(), instance_id=inst, security_group_id=db), rt), "JoinSecurityGroup")
    n = _ecs_count(ecs, rt, vpc_id, db).ecs_count
    expect(n == 1, f"after JoinSecurityGroup: db EcsCount {n!r} != 1")
    body_of(ecs.leave_security_group_with_options(ecs_models.LeaveSecurityGroupRequest(
        region_id=region(), instance_id=inst, security_group_id=db), rt), "LeaveSecurityGroup")
    n = _ecs_count(ecs, rt, vpc_id, db).ecs_count
    expect(n == 0, f"after LeaveSecurityGroup: db EcsCount {n!r} != 0")

    # ---- network ACL
    resp = vpc.create_network_acl_with_options(vpc_models.CreateNetworkAclRequest(
        region_id=region(), vpc_id=vpc_id, network_acl_name="sgacl"), rt)
    acl = state["NetworkAclId"] = _field(resp, "CreateNetworkAcl", "network_acl_id")
    body_of(vpc.update_network_acl_entries_with_options(vpc_models.UpdateNetworkAclEntriesRequest(
        region_id=region(), network_acl_id=acl,
        update_ingress_acl_entries=True, ingress_acl_entries=[
            vpc_models.UpdateNetworkAclEntriesRequestIngressAclEntries(
                network_acl_entry_name="ssh", policy="accept", protocol="tcp", port="22/22",
                source_cidr_ip=SGACL_VPC_CIDR),
            vpc_models.UpdateNetworkAclEntriesRequestIngressAclEntries(
                network_acl_entry_name="rest", policy="drop", protocol="all", port="-1/-1",
                source_cidr_ip="0.0.0.0/0"),
        ],
        update_egress_acl_entries=True, egress_acl_entries=[
            vpc_models.UpdateNetworkAclEntriesRequestEgressAclEntries(
                network_acl_entry_name="dns", policy="drop", protocol="udp", port="53/53",
                destination_cidr_ip="0.0.0.0/0"),
        ]), rt), "UpdateNetworkAclEntries")
    body_of(vpc.associate_network_acl_with_options(vpc_models.AssociateNetworkAclRequest(
        region_id=region(), network_acl_id=acl, resource=[
            vpc_models.AssociateNetworkAclRequestResource(resource_id=vsw_id, resource_type="VSwitch")]), rt),
        "AssociateNetworkAcl")

    resp = vpc.describe_network_acls_with_options(vpc_models.DescribeNetworkAclsRequest(
        region_id=region(), vpc_id=vpc_id), rt)
    acls = _field(resp, "DescribeNetworkAcls", "network_acls.network_acl")
    mine = [a for a in acls if a.network_acl_id == acl]
    expect(len(mine) == 1, f"DescribeNetworkAcls(VpcId={vpc_id}): ACL {acl} listed {len(mine)} times: {_raw(resp)}")
    checks["DescribeNetworkAcls"] = _check_acl("DescribeNetworkAcls", mine[0], acl, vpc_id, vsw_id)

    resp = vpc.describe_network_acl_attributes_with_options(vpc_models.DescribeNetworkAclAttributesRequest(
        region_id=region(), network_acl_id=acl), rt)
    attr = _field(resp, "DescribeNetworkAclAttributes", "network_acl_attribute")
    checks["DescribeNetworkAclAttributes"] = _check_acl("DescribeNetworkAclAttributes", attr, acl, vpc_id, vsw_id)

    # ---- error codes (while "web" still exists, so PortRange is what fails)
    results = [
        _expect_error("DeleteSecurityGroup(SecurityGroupId=sg-doesnotexist)", "InvalidSecurityGroupId.NotFound",
                      lambda: ecs.delete_security_group_with_options(ecs_models.DeleteSecurityGroupRequest(
                          region_id=region(), security_group_id="sg-doesnotexist"), rt)),
        _expect_error("AuthorizeSecurityGroup(PortRange=0/22)", "InvalidPortRange.Malformed",
                      lambda: ecs.authorize_security_group_with_options(ecs_models.AuthorizeSecurityGroupRequest(
                          region_id=region(), security_group_id=web, ip_protocol="tcp", port_range="0/22",
                          source_cidr_ip="0.0.0.0/0"), rt)),
    ]
    bad = [r for r in results if not r["ok"]]
    expect(not bad, f"error codes differ: {json.dumps(bad)}")
    checks["ErrorCodes"] = [r["code"] for r in results]

    # ---- clean up
    body_of(vpc.unassociate_network_acl_with_options(vpc_models.UnassociateNetworkAclRequest(
        region_id=region(), network_acl_id=acl, resource=[
            vpc_models.UnassociateNetworkAclRequestResource(resource_id=vsw_id, resource_type="VSwitch")]), rt),
        "UnassociateNetworkAcl")
    body_of(vpc.delete_network_acl_with_options(vpc_models.DeleteNetworkAclRequest(
        region_id=region(), network_acl_id=acl), rt), "DeleteNetworkAcl")
    body_of(ecs.delete_instance_with_options(ecs_models.DeleteInstanceRequest(
        instance_id=inst, force=True), rt), "DeleteInstance")
    for sg in (web, db):
        body_of(ecs.delete_security_group_with_options(ecs_models.DeleteSecurityGroupRequest(
            region_id=region(), security_group_id=sg), rt), "DeleteSecurityGroup")
    body_of(vpc.delete_vswitch_with_options(vpc_models.DeleteVSwitchRequest(
        region_id=region(), v_switch_id=vsw_id), rt), "DeleteVSwitch")
    body_of(vpc.delete_vpc_with_options(vpc_models.DeleteVpcRequest(region_id=region(), vpc_id=vpc_id), rt),
            "DeleteVpc")
    left = [v.vpc_id for v in list_vpcs(vpc, rt) if v.vpc_id == vpc_id]
    expect(not left, f"DescribeVpcs still lists {vpc_id} after DeleteVpc")
    return checks


# --------------------------------------------------------------------------
# igw-build / igw-teardown: the IPv4 gateway walkthrough (IGW-1..IGW-5, RT-4)
# nat / nat-teardown: an internet NAT gateway with one SNAT entry

IGW_VPC_CIDR = "10.0.0.0/16"
IGW_ZONE = "cn-hangzhou-a"
IGW_VSWITCHES = {"vsw1": "10.0.1.0/24", "vsw2": "10.0.2.0/24"}
IGW_INSTANCES = {  # name -> (vswitch, private ip, gets an EIP)
    "a": ("vsw1", "10.0.1.10", True),
    "b": ("vsw2", "10.0.2.10", True),
    "c": ("vsw1", "10.0.1.20", True),
    "p": ("vsw2", "10.0.2.30", False),
}
IGW_NAME, IGW_NAME2, IGW_DESCRIPTION = "edge", "edge-2", "the lab's IPv4 gateway"

NAT_VPC_CIDR = "10.8.0.0/16"
NAT_VSW_CIDR = "10.8.1.0/24"
NAT_INSTANCE_IP = "10.8.1.10"


def _run_instance(ecs, rt, name, vsw_id, ip, zone):
    resp = ecs.run_instances_with_options(ecs_models.RunInstancesRequest(
        region_id=region(), zone_id=zone, image_id=LAB_IMAGE_ID, instance_type=LAB_INSTANCE_TYPE,
        instance_name=name, v_switch_id=vsw_id, private_ip_address=ip, amount=1), rt)
    ids = _field(resp, "RunInstances", "instance_id_sets.instance_id_set")
    expect(isinstance(ids, list) and len(ids) == 1 and isinstance(ids[0], str) and ids[0],
           f"RunInstances {name}: expected InstanceIdSets.InstanceIdSet with one id, got {_raw(resp)}")
    return ids[0]


def _allocate_eip(vpc, rt, label):
    resp = vpc.allocate_eip_address_with_options(vpc_models.AllocateEipAddressRequest(region_id=region()), rt)
    alloc = _field(resp, f"AllocateEipAddress ({label})", "allocation_id")
    ip = _field(resp, f"AllocateEipAddress ({label})", "eip_address")
    expect(isinstance(alloc, str) and alloc and isinstance(ip, str) and ip,
           f"AllocateEipAddress ({label}): AllocationId/EipAddress not strings: {_raw(resp)}")
    return alloc, ip


def _describe_eip(vpc, rt, alloc):
    resp = vpc.describe_eip_addresses_with_options(vpc_models.DescribeEipAddressesRequest(
        region_id=region(), allocation_id=alloc, page_size=PAGE_SIZE), rt)
    eips = _field(resp, "DescribeEipAddresses", "eip_addresses.eip_address")
    mine = [e for e in eips if e.allocation_id == alloc]
    expect(len(mine) == 1, f"DescribeEipAddresses(AllocationId={alloc}): listed {len(mine)} times: {_raw(resp)}")
    return mine[0]


def _check_eip(vpc, rt, alloc, ip, instance_id, instance_type, label):
    e = _describe_eip(vpc, rt, alloc)
    where = f"DescribeEipAddresses({label}, AllocationId={alloc})"
    expect(e.ip_address == ip, f"{where}: IpAddress {e.ip_address!r} != {ip!r}")
    expect(e.status == "InUse", f"{where}: Status {e.status!r} != 'InUse'")
    expect(e.instance_id == instance_id, f"{where}: InstanceId {e.instance_id!r} != {instance_id!r}")
    expect(e.instance_type == instance_type, f"{where}: InstanceType {e.instance_type!r} != {instance_type!r}")


def _list_ipv4_gateways(vpc, rt, vpc_id):
    resp = vpc.list_ipv_4gateways_with_options(vpc_models.ListIpv4GatewaysRequest(
        region_id=region(), vpc_id=vpc_id, max_results=100), rt)
    models = _field(resp, "ListIpv4Gateways", "ipv_4gateway_models")
    expect(isinstance(models, list), f"ListIpv4Gateways: Ipv4GatewayModels is not a list: {_raw(resp)}")
    return models


def _get_ipv4_gateway(vpc, rt, gw):
    resp = vpc.get_ipv_4gateway_attribute_with_options(vpc_models.GetIpv4GatewayAttributeRequest(
        region_id=region(), ipv_4gateway_id=gw), rt)
    body = body_of(resp, "GetIpv4GatewayAttribute")
    expect(body.ipv_4gateway_id == gw,
           f"GetIpv4GatewayAttribute: Ipv4GatewayId {body.ipv_4gateway_id!r} != {gw!r}: {_raw(resp)}")
    return body


def _gateway_entries(vpc, rt, table):
    resp = vpc.list_gateway_route_table_entries_with_options(vpc_models.ListGatewayRouteTableEntriesRequest(
        region_id=region(), gateway_route_table_id=table, max_results=100), rt)
    models = _field(resp, "ListGatewayRouteTableEntries", "gateway_route_entry_models")
    expect(isinstance(models, list),
           f"ListGatewayRouteTableEntries: GatewayRouteEntryModels is not a list: {_raw(resp)}")
    return models


def _route_entries(vpc, rt, table, next_hop_type=None):
    """DescribeRouteEntryList of `table` (optionally filtered by NextHopType): entry models."""
    resp = vpc.describe_route_entry_list_with_options(vpc_models.DescribeRouteEntryListRequest(
        region_id=region(), route_table_id=table, next_hop_type=next_hop_type, max_result=100), rt)
    body = body_of(resp, "DescribeRouteEntryList")
    holder = body.route_entrys
    entries = holder.route_entry if holder is not None else None
    expect(isinstance(entries, list),
           f"DescribeRouteEntryList(RouteTableId={table}): RouteEntrys.RouteEntry is not a list: {_raw(resp)}")
    return entries


def _hops(entry):
    nh = entry.next_hops.next_hop if entry.next_hops and entry.next_hops.next_hop else []
    return [(h.next_hop_type, h.next_hop_id) for h in nh]


def cmd_igw_build(_args):
    vpc, ecs, rt = vpc_client(), ecs_client(), runtime()
    state = {"VpcId": None, "RouteTableId": None, "VSwitchIds": {}, "InstanceIds": {}, "Eips": {},
             "EipAllocationIds": {}, "Ipv4GatewayId": None, "GatewayRouteTableId": None}
    try:
        _igw_build(vpc, ecs, rt, state)
    except BaseException:
        log("partial igw-build state: " + json.dumps(state))
        raise
    out = {"ok": True, "VpcId": state["VpcId"], "Ipv4GatewayId": state["Ipv4GatewayId"],
           "GatewayRouteTableId": state["GatewayRouteTableId"], "InstanceIds": state["InstanceIds"],
           "Eips": state["Eips"]}
    print(json.dumps(out, sort_keys=True))
    return 0


def _igw_build(vpc, ecs, rt, state):
    # ---- network and instances
    resp = vpc.create_vpc_with_options(vpc_models.CreateVpcRequest(
        region_id=region(), cidr_block=IGW_VPC_CIDR, vpc_name="igw"), rt)
    vpc_id = state["VpcId"] = _field(resp, "CreateVpc", "vpc_id")
    system = state["RouteTableId"] = _field(resp, "CreateVpc", "route_table_id")
    for name, cidr in IGW_VSWITCHES.items():
        resp = vpc.create_vswitch_with_options(vpc_models.CreateVSwitchRequest(
            region_id=region(), vpc_id=vpc_id, cidr_block=cidr, zone_id=IGW_ZONE, v_switch_name=name), rt)
        state["VSwitchIds"][name] = _field(resp, f"CreateVSwitch {name}", "v_switch_id")
    for name, (vsw, ip, _) in IGW_INSTANCES.items():
        # ECS names have 2 to 128 characters and start with a letter.
        state["InstanceIds"][name] = _run_instance(ecs, rt, f"igw-{name}", state["VSwitchIds"][vsw], ip, IGW_ZONE)
    ids = state["InstanceIds"]

    # ---- EIPs for a, b, c
    for name, (_, _, wants_eip) in IGW_INSTANCES.items():
        if not wants_eip:
            continue
        alloc, ip = _allocate_eip(vpc, rt, name)
        state["EipAllocationIds"][name] = alloc
        body_of(vpc.associate_eip_address_with_options(vpc_models.AssociateEipAddressRequest(
            region_id=region(), allocation_id=alloc, instance_id=ids[name], instance_type="EcsInstance"), rt),
            "AssociateEipAddress")
        state["Eips"][name] = ip
    for name, alloc in state["EipAllocationIds"].items():
        _check_eip(vpc, rt, alloc, state["Eips"][name], ids[name], "EcsInstance", name)
    insts = {i.instance_id: i for i in list_instances(ecs, rt, vpc_id)}
    expect(set(insts) == set(ids.values()),
           f"DescribeInstances(VpcId={vpc_id}): got {sorted(insts)!r}, want {sorted(ids.values())!r}")
    for name, (_, _, wants_eip) in IGW_INSTANCES.items():
        i = insts[ids[name]]
        got = i.eip_address.ip_address if i.eip_address is not None else None
        if wants_eip:
            expect(got == state["Eips"][name],
                   f"DescribeInstances {name}: EipAddress.IpAddress {got!r} != {state['Eips'][name]!r}: {i.to_map()}")
        else:
            public = i.public_ip_address.ip_address if i.public_ip_address is not None else None
            expect(not got and not public,
                   f"DescribeInstances {name}: expected no public address, got EipAddress {got!r}, "
                   f"PublicIpAddress {public!r}")

    # ---- IGW-1, IGW-2: the gateway, one per VPC, disabled until enabled
    resp = vpc.create_ipv_4gateway_with_options(vpc_models.CreateIpv4GatewayRequest(
        region_id=region(), vpc_id=vpc_id, ipv_4gateway_name=IGW_NAME), rt)
    gw = state["Ipv4GatewayId"] = _field(resp, "CreateIpv4Gateway", "ipv_4gateway_id")
    listed = _list_ipv4_gateways(vpc, rt, vpc_id)
    got = [(g.ipv_4gateway_id, g.vpc_id, g.enabled, g.ipv_4gateway_name) for g in listed]
    expect(got == [(gw, vpc_id, False, IGW_NAME)],
           f"ListIpv4Gateways(VpcId={vpc_id}): (Ipv4GatewayId, VpcId, Enabled, Ipv4GatewayName) "
           f"{got!r} != {[(gw, vpc_id, False, IGW_NAME)]!r}")
    r = _expect_error("CreateIpv4Gateway(second in the VPC)", "QuotaExceeded.Ipv4Gateway",
                      lambda: vpc.create_ipv_4gateway_with_options(vpc_models.CreateIpv4GatewayRequest(
                          region_id=region(), vpc_id=vpc_id), rt))
    expect(r["ok"], f"error code differs: {json.dumps(r)}")

    body_of(vpc.enable_vpc_ipv_4gateway_with_options(vpc_models.EnableVpcIpv4GatewayRequest(
        region_id=region(), ipv_4gateway_id=gw, route_table_list=[system]), rt), "EnableVpcIpv4Gateway")
    g = _get_ipv4_gateway(vpc, rt, gw)
    expect(g.enabled is True, f"GetIpv4GatewayAttribute after EnableVpcIpv4Gateway: Enabled {g.enabled!r} != True")
    expect(g.vpc_id == vpc_id, f"GetIpv4GatewayAttribute: VpcId {g.vpc_id!r} != {vpc_id!r}")
    defaults = [(e.destination_cidr_block, _hops(e)) for e in _route_entries(vpc, rt, system, "Ipv4Gateway")]
    expect(defaults == [("0.0.0.0/0", [("Ipv4Gateway", gw)])],
           f"DescribeRouteEntryList({system}, NextHopType=Ipv4Gateway) after EnableVpcIpv4Gateway: "
           f"{defaults!r} != {[('0.0.0.0/0', [('Ipv4Gateway', gw)])]!r}")

    body_of(vpc.update_ipv_4gateway_attribute_with_options(vpc_models.UpdateIpv4GatewayAttributeRequest(
        region_id=region(), ipv_4gateway_id=gw, ipv_4gateway_name=IGW_NAME2,
        ipv_4gateway_description=IGW_DESCRIPTION), rt), "UpdateIpv4GatewayAttribute")
    g = _get_ipv4_gateway(vpc, rt, gw)
    expect((g.ipv_4gateway_name, g.ipv_4gateway_description) == (IGW_NAME2, IGW_DESCRIPTION),
           f"GetIpv4GatewayAttribute after UpdateIpv4GatewayAttribute: (Ipv4GatewayName, Ipv4GatewayDescription) "
           f"{(g.ipv_4gateway_name, g.ipv_4gateway_description)!r} != {(IGW_NAME2, IGW_DESCRIPTION)!r}")

    # ---- RT-4: the gateway route table, one system entry per vSwitch
    resp = vpc.create_route_table_with_options(vpc_models.CreateRouteTableRequest(
        region_id=region(), vpc_id=vpc_id, associate_type="Gateway", route_table_name="igw-in"), rt)
    gwt = state["GatewayRouteTableId"] = _field(resp, "CreateRouteTable(AssociateType=Gateway)", "route_table_id")
    entries = _gateway_entries(vpc, rt, gwt)
    got = sorted((e.destination_cidr_block, e.next_hop_type) for e in entries)
    want = sorted((c, "Local") for c in IGW_VSWITCHES.values())
    expect(got == want, f"ListGatewayRouteTableEntries({gwt}): (DestinationCidrBlock, NextHopType) {got!r} != {want!r}")
    hops = {"10.0.1.0/24": ids["a"], "10.0.2.0/24": ids["b"]}
    for cidr, hop in hops.items():
        body_of(vpc.update_gateway_route_table_entry_attribute_with_options(
            vpc_models.UpdateGatewayRouteTableEntryAttributeRequest(
                region_id=region(), gateway_route_table_id=gwt, destination_cidr_block=cidr,
                next_hop_type="Instance", next_hop_id=hop), rt), f"UpdateGatewayRouteTableEntryAttribute {cidr}")
    entries = _gateway_entries(vpc, rt, gwt)
    got = sorted((e.destination_cidr_block, e.next_hop_type, e.next_hop_id) for e in entries)
    want = sorted((c, "EcsInstance", h) for c, h in hops.items())
    expect(got == want, f"ListGatewayRouteTableEntries({gwt}) after the edits: "
                        f"(DestinationCidrBlock, NextHopType, NextHopId) {got!r} != {want!r}")

    body_of(vpc.associate_route_table_with_gateway_with_options(vpc_models.AssociateRouteTableWithGatewayRequest(
        region_id=region(), route_table_id=gwt, gateway_id=gw), rt), "AssociateRouteTableWithGateway")
    g = _get_ipv4_gateway(vpc, rt, gw)
    expect(g.ipv_4gateway_route_table_id == gwt,
           f"GetIpv4GatewayAttribute after AssociateRouteTableWithGateway: Ipv4GatewayRouteTableId "
           f"{g.ipv_4gateway_route_table_id!r} != {gwt!r}")


def cmd_igw_teardown(args):
    vpc, rt = vpc_client(), runtime()
    gw, gwt = args.gateway_id, args.table_id
    vpc_id = _get_ipv4_gateway(vpc, rt, gw).vpc_id
    expect(isinstance(vpc_id, str) and vpc_id, f"GetIpv4GatewayAttribute({gw}): no VpcId")

    r = _expect_error("DeleteIpv4Gateway(table bound)", "DependencyViolation.GatewayRouteTable",
                      lambda: vpc.delete_ipv_4gateway_with_options(vpc_models.DeleteIpv4GatewayRequest(
                          region_id=region(), ipv_4gateway_id=gw), rt))
    expect(r["ok"], f"error code differs: {json.dumps(r)}")
    body_of(vpc.dissociate_route_table_from_gateway_with_options(vpc_models.DissociateRouteTableFromGatewayRequest(
        region_id=region(), route_table_id=gwt, gateway_id=gw), rt), "DissociateRouteTableFromGateway")
    g = _get_ipv4_gateway(vpc, rt, gw)
    expect(not g.ipv_4gateway_route_table_id,
           f"GetIpv4GatewayAttribute after DissociateRouteTableFromGateway: Ipv4GatewayRouteTableId "
           f"{g.ipv_4gateway_route_table_id!r} should be empty")
    r = _expect_error("DeleteIpv4Gateway(InternetMode=private, routes point to it)", "DependencyViolation.RouteEntry",
                      lambda: vpc.delete_ipv_4gateway_with_options(vpc_models.DeleteIpv4GatewayRequest(
                          region_id=region(), ipv_4gateway_id=gw, internet_mode="private"), rt))
    expect(r["ok"], f"error code differs: {json.dumps(r)}")
    body_of(vpc.delete_ipv_4gateway_with_options(vpc_models.DeleteIpv4GatewayRequest(
        region_id=region(), ipv_4gateway_id=gw, internet_mode="public"), rt), "DeleteIpv4Gateway(InternetMode=public)")

    left = _list_ipv4_gateways(vpc, rt, vpc_id)
    expect(not left, f"ListIpv4Gateways(VpcId={vpc_id}) after DeleteIpv4Gateway: "
                     f"{[m.ipv_4gateway_id for m in left]!r}")
    for t in list_route_tables(vpc, rt, vpc_id):
        if t.route_table_id == gwt:
            continue
        stale = [e.destination_cidr_block for e in _route_entries(vpc, rt, t.route_table_id, "Ipv4Gateway")]
        expect(not stale, f"DescribeRouteEntryList({t.route_table_id}, NextHopType=Ipv4Gateway) after the "
                          f"public-mode delete still lists {stale!r}")
    print(json.dumps({"ok": True}))
    return 0


def cmd_nat(_args):
    vpc, ecs, rt = vpc_client(), ecs_client(), runtime()
    state = {"VpcId": None, "VSwitchId": None, "InstanceId": None, "NatGatewayId": None, "SnatTableId": None,
             "SnatEntryId": None, "EipAllocationId": None, "SnatIp": None}
    try:
        _nat(vpc, ecs, rt, state)
    except BaseException:
        log("partial nat state: " + json.dumps(state))
        raise
    print(json.dumps({"ok": True, **state}, sort_keys=True))
    return 0


def _describe_nat_gateways(vpc, rt, **filters):
    resp = vpc.describe_nat_gateways_with_options(vpc_models.DescribeNatGatewaysRequest(
        region_id=region(), page_size=PAGE_SIZE, **filters), rt)
    body = body_of(resp, "DescribeNatGateways")
    gws = body.nat_gateways.nat_gateway if body.nat_gateways is not None else None
    expect(isinstance(gws, list), f"DescribeNatGateways: NatGateways.NatGateway is not a list: {_raw(resp)}")
    return gws


def _nat(vpc, ecs, rt, state):
    resp = vpc.create_vpc_with_options(vpc_models.CreateVpcRequest(
        region_id=region(), cidr_block=NAT_VPC_CIDR, vpc_name="nat"), rt)
    vpc_id = state["VpcId"] = _field(resp, "CreateVpc", "vpc_id")
    system = _field(resp, "CreateVpc", "route_table_id")
    resp = vpc.create_vswitch_with_options(vpc_models.CreateVSwitchRequest(
        region_id=region(), vpc_id=vpc_id, cidr_block=NAT_VSW_CIDR, zone_id=IGW_ZONE, v_switch_name="nat"), rt)
    vsw = state["VSwitchId"] = _field(resp, "CreateVSwitch", "v_switch_id")
    state["InstanceId"] = _run_instance(ecs, rt, "nat-private", vsw, NAT_INSTANCE_IP, IGW_ZONE)

    resp = vpc.create_nat_gateway_with_options(vpc_models.CreateNatGatewayRequest(
        region_id=region(), vpc_id=vpc_id, v_switch_id=vsw, nat_type="Enhanced", network_type="internet",
        name="nat"), rt)
    ngw = state["NatGatewayId"] = _field(resp, "CreateNatGateway", "nat_gateway_id")
    tables = _field(resp, "CreateNatGateway", "snat_table_ids.snat_table_id")
    expect(isinstance(tables, list) and len(tables) == 1 and isinstance(tables[0], str) and tables[0],
           f"CreateNatGateway: SnatTableIds.SnatTableId should hold one id: {_raw(resp)}")
    stb = state["SnatTableId"] = tables[0]
    defaults = [(e.destination_cidr_block, _hops(e)) for e in _route_entries(vpc, rt, system)
                if e.destination_cidr_block == "0.0.0.0/0"]
    expect(defaults == [("0.0.0.0/0", [("NatGateway", ngw)])],
           f"DescribeRouteEntryList({system}) after CreateNatGateway: 0.0.0.0/0 entries (with NextHops) "
           f"{defaults!r} != {[('0.0.0.0/0', [('NatGateway', ngw)])]!r}")

    alloc, ip = _allocate_eip(vpc, rt, "nat")
    state["EipAllocationId"] = alloc
    body_of(vpc.associate_eip_address_with_options(vpc_models.AssociateEipAddressRequest(
        region_id=region(), allocation_id=alloc, instance_id=ngw, instance_type="Nat"), rt),
        "AssociateEipAddress(InstanceType=Nat)")
    _check_eip(vpc, rt, alloc, ip, ngw, "Nat", "nat")

    resp = vpc.create_snat_entry_with_options(vpc_models.CreateSnatEntryRequest(
        region_id=region(), snat_table_id=stb, snat_ip=ip, source_vswitch_id=vsw, snat_entry_name="nat"), rt)
    snat = state["SnatEntryId"] = _field(resp, "CreateSnatEntry", "snat_entry_id")
    state["SnatIp"] = ip

    resp = vpc.describe_snat_table_entries_with_options(vpc_models.DescribeSnatTableEntriesRequest(
        region_id=region(), snat_table_id=stb, page_size=PAGE_SIZE), rt)
    entries = _field(resp, "DescribeSnatTableEntries", "snat_table_entries.snat_table_entry")
    got = [(e.snat_entry_id, e.snat_table_id, e.nat_gateway_id, e.snat_ip, e.source_vswitch_id) for e in entries]
    want = [(snat, stb, ngw, ip, vsw)]
    expect(got == want, f"DescribeSnatTableEntries({stb}): (SnatEntryId, SnatTableId, NatGatewayId, SnatIp, "
                        f"SourceVSwitchId) {got!r} != {want!r}")

    gws = [g for g in _describe_nat_gateways(vpc, rt, vpc_id=vpc_id) if g.nat_gateway_id == ngw]
    expect(len(gws) == 1, f"DescribeNatGateways(VpcId={vpc_id}): {ngw} listed {len(gws)} times")
    g = gws[0]
    ips = [(x.allocation_id, x.ip_address) for x in (g.ip_lists.ip_list if g.ip_lists and g.ip_lists.ip_list else [])]
    expect(ips == [(alloc, ip)], f"DescribeNatGateways {ngw}: IpLists.IpList (AllocationId, IpAddress) "
                                 f"{ips!r} != {[(alloc, ip)]!r}: {g.to_map()}")
    snat_tables = g.snat_table_ids.snat_table_id if g.snat_table_ids else None
    expect(snat_tables == [stb], f"DescribeNatGateways {ngw}: SnatTableIds.SnatTableId {snat_tables!r} != {[stb]!r}")
    expect(g.vpc_id == vpc_id, f"DescribeNatGateways {ngw}: VpcId {g.vpc_id!r} != {vpc_id!r}")


def cmd_nat_teardown(args):
    vpc, rt = vpc_client(), runtime()
    ngw, stb, snat, alloc = args.nat_gateway_id, args.snat_table_id, args.snat_entry_id, args.allocation_id
    gws = [g for g in _describe_nat_gateways(vpc, rt, nat_gateway_id=ngw) if g.nat_gateway_id == ngw]
    expect(len(gws) == 1, f"DescribeNatGateways(NatGatewayId={ngw}): listed {len(gws)} times")
    vpc_id = gws[0].vpc_id

    body_of(vpc.delete_snat_entry_with_options(vpc_models.DeleteSnatEntryRequest(
        region_id=region(), snat_table_id=stb, snat_entry_id=snat), rt), "DeleteSnatEntry")
    body_of(vpc.unassociate_eip_address_with_options(vpc_models.UnassociateEipAddressRequest(
        region_id=region(), allocation_id=alloc, instance_id=ngw, instance_type="Nat"), rt),
        "UnassociateEipAddress(InstanceType=Nat)")
    body_of(vpc.release_eip_address_with_options(vpc_models.ReleaseEipAddressRequest(
        region_id=region(), allocation_id=alloc), rt), "ReleaseEipAddress")
    body_of(vpc.delete_nat_gateway_with_options(vpc_models.DeleteNatGatewayRequest(
        region_id=region(), nat_gateway_id=ngw), rt), "DeleteNatGateway")

    left = [g.nat_gateway_id for g in _describe_nat_gateways(vpc, rt) if g.nat_gateway_id == ngw]
    expect(not left, f"DescribeNatGateways still lists {ngw} after DeleteNatGateway")
    if vpc_id:
        for t in list_route_tables(vpc, rt, vpc_id):
            stale = [e.destination_cidr_block for e in _route_entries(vpc, rt, t.route_table_id, "NatGateway")]
            expect(not stale, f"DescribeRouteEntryList({t.route_table_id}, NextHopType=NatGateway) after "
                              f"DeleteNatGateway still lists {stale!r}")
    print(json.dumps({"ok": True}))
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="vpc_lab.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("build-lab", help="create VPC/vSwitches/instances via the SDK, verify via Describe*, "
                                     "print one JSON line with the ids")
    td = sub.add_parser("teardown", help="DeleteInstance*, DeleteVSwitch*, DeleteVpc (in that order)")
    td.add_argument("--vpc-id", required=True)
    sub.add_parser("wrong-secret", help="DescribeVpcs with a corrupted secret must fail with SignatureDoesNotMatch")
    sub.add_parser("error-codes", help="check InvalidCidrBlock.Malformed and InvalidVpcId.NotFound")
    sub.add_parser("sg-acl", help="security groups (rules, policy, join/leave) and network ACLs through the SDKs, "
                                  "verified via Describe*, then cleaned up; error codes checked")
    sub.add_parser("igw-build", help="IPv4 gateway walkthrough: VPC, 4 instances, 3 EIPs, an enabled IPv4 gateway "
                                     "with a bound gateway route table (10.0.1.0/24 -> a, 10.0.2.0/24 -> b); "
                                     "print one JSON line with the ids and EIPs")
    it = sub.add_parser("igw-teardown", help="refused deletes, dissociate the gateway route table, "
                                             "DeleteIpv4Gateway InternetMode=public")
    it.add_argument("--gateway-id", required=True)
    it.add_argument("--table-id", required=True)
    sub.add_parser("nat", help="a VPC with a private instance behind an internet NAT gateway "
                               "(EIP + SNAT entry for its vSwitch); print one JSON line with the ids")
    nt = sub.add_parser("nat-teardown", help="DeleteSnatEntry, UnassociateEipAddress, ReleaseEipAddress, "
                                             "DeleteNatGateway")
    nt.add_argument("--nat-gateway-id", required=True)
    nt.add_argument("--snat-table-id", required=True)
    nt.add_argument("--snat-entry-id", required=True)
    nt.add_argument("--allocation-id", required=True)
    args = p.parse_args(argv)

    handler = {"build-lab": cmd_build_lab, "teardown": cmd_teardown,
               "wrong-secret": cmd_wrong_secret, "error-codes": cmd_error_codes,
               "sg-acl": cmd_sg_acl, "igw-build": cmd_igw_build, "igw-teardown": cmd_igw_teardown,
               "nat": cmd_nat, "nat-teardown": cmd_nat_teardown}[args.cmd]
    try:
        return handler(args)
    except Mismatch as exc:
        log(f"{args.cmd}: MISMATCH: {exc}")
        return EXIT_MISMATCH
    except Exception as exc:  # noqa: BLE001 - any SDK/transport error
        info = sdk_error_info(exc)
        log(f"{args.cmd}: unexpected SDK error: {json.dumps(info, default=str)}")
        inner = getattr(exc, "inner_exception", None)
        if inner is not None:
            log(f"inner exception: {inner!r}")
        return EXIT_SDK_ERROR


if __name__ == "__main__":
    sys.exit(main())
