#!/usr/bin/env python3
"""Drive the vpc-router daemon through the *older* official Alibaba Cloud
Python SDKs: aliyun-python-sdk-core with aliyun-python-sdk-vpc and
aliyun-python-sdk-ecs (the base of footmark and Ansible's alicloud modules).
They sign with the RPC signature V1 (Signature/SignatureMethod=HMAC-SHA1
parameters), not with signature V3.

Only the SDKs' own request classes (CreateVpcRequest, RunInstancesRequest,
...) and AcsClient are used, so whatever passes here works for a script
written against those SDKs.

Environment (as vpc_lab.py):
  VPC_ENDPOINT           host:port of the daemon, e.g. 127.0.0.1:18080 (no scheme)
  VPC_ACCESS_KEY_ID      access key id
  VPC_ACCESS_KEY_SECRET  access key secret
  VPC_REGION_ID          region (default cn-hangzhou)
  VPC_SDK_TIMEOUT_MS     read timeout in ms (default 5000)

Exit status: 0 ok; 1 unexpected SDK/transport error (details on stderr);
3 a response did not match expectations (details on stderr); 2 usage error.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (  # noqa: E402  (first: it clears the proxy variables the SDKs read)
    EXIT_MISMATCH, EXIT_SDK_ERROR, LAB_IMAGE_ID, LAB_INSTANCE_TYPE, LAB_VPC_CIDR, PAGE_SIZE, Mismatch, env, expect, log, region,
)

from aliyunsdkcore.client import AcsClient  # noqa: E402
from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException  # noqa: E402
from aliyunsdkvpc.request.v20160428.CreateVpcRequest import CreateVpcRequest  # noqa: E402
from aliyunsdkvpc.request.v20160428.CreateVSwitchRequest import CreateVSwitchRequest  # noqa: E402
from aliyunsdkvpc.request.v20160428.DeleteVSwitchRequest import DeleteVSwitchRequest  # noqa: E402
from aliyunsdkvpc.request.v20160428.DeleteVpcRequest import DeleteVpcRequest  # noqa: E402
from aliyunsdkvpc.request.v20160428.DescribeVpcsRequest import DescribeVpcsRequest  # noqa: E402
from aliyunsdkvpc.request.v20160428.DescribeVSwitchesRequest import DescribeVSwitchesRequest  # noqa: E402
from aliyunsdkecs.request.v20140526.AuthorizeSecurityGroupRequest import AuthorizeSecurityGroupRequest  # noqa: E402
from aliyunsdkecs.request.v20140526.CreateSecurityGroupRequest import CreateSecurityGroupRequest  # noqa: E402
from aliyunsdkecs.request.v20140526.DeleteInstanceRequest import DeleteInstanceRequest  # noqa: E402
from aliyunsdkecs.request.v20140526.DeleteSecurityGroupRequest import DeleteSecurityGroupRequest  # noqa: E402
from aliyunsdkecs.request.v20140526.DescribeInstancesRequest import DescribeInstancesRequest  # noqa: E402
from aliyunsdkecs.request.v20140526.DescribeSecurityGroupsRequest import DescribeSecurityGroupsRequest  # noqa: E402
from aliyunsdkecs.request.v20140526.RunInstancesRequest import RunInstancesRequest  # noqa: E402

LAB_VSWITCHES = {  # name -> (cidr, zone)
    "left": ("10.0.1.0/24", "cn-hangzhou-a"),
    "right": ("10.0.2.0/24", "cn-hangzhou-b"),
}
LAB_INSTANCES = {  # name -> (vswitch name, private ip)
    "left": ("left", "10.0.1.10"),
    "right": ("right", "10.0.2.10"),
}


def client(secret=None):
    t = int(os.environ.get("VPC_SDK_TIMEOUT_MS") or "5000") / 1000.0
    return AcsClient(
        env("VPC_ACCESS_KEY_ID"),
        secret if secret is not None else env("VPC_ACCESS_KEY_SECRET"),
        region(),
        auto_retry=False,
        max_retry_time=0,
        timeout=t,
        connect_timeout=min(2.0, t),
    )


def call(c, request):
    """Sends one request class to the daemon (plain HTTP) and returns its JSON answer."""
    request.set_endpoint(env("VPC_ENDPOINT"))
    request.set_protocol_type("http")
    body = c.do_action_with_exception(request)
    return json.loads(body)


def error_info(exc):
    if isinstance(exc, ServerException):
        return {"type": "ServerException", "code": exc.get_error_code(), "status": exc.get_http_status(),
                "message": exc.get_error_msg(), "request_id": exc.get_request_id()}
    if isinstance(exc, ClientException):
        return {"type": "ClientException", "code": exc.get_error_code(), "status": None,
                "message": exc.get_error_msg()}
    return {"type": type(exc).__name__, "code": None, "status": None, "message": str(exc)}


# --------------------------------------------------------------------------
# subcommands


def cmd_build_lab(_args):
    c = client()
    state = {"VpcId": None, "VSwitchIds": {}, "SecurityGroupId": None, "InstanceIds": {}}
    try:
        _build(c, state)
    except BaseException:
        log("partial lab state: " + json.dumps(state))
        raise
    print(json.dumps(state, sort_keys=True))
    return 0


def _build(c, state):
    r = CreateVpcRequest()
    r.set_CidrBlock(LAB_VPC_CIDR)
    r.set_VpcName("old-sdk")
    r.set_Description("built by aliyun-python-sdk-vpc (signature V1)")
    vpc_id = state["VpcId"] = call(c, r).get("VpcId")
    expect(isinstance(vpc_id, str) and vpc_id.startswith("vpc-"), f"CreateVpc: no VpcId, state {state}")

    for name, (cidr, zone) in LAB_VSWITCHES.items():
        r = CreateVSwitchRequest()
        r.set_VpcId(vpc_id)
        r.set_CidrBlock(cidr)
        r.set_ZoneId(zone)
        r.set_VSwitchName(name)
        vsw = call(c, r).get("VSwitchId")
        expect(isinstance(vsw, str) and vsw, f"CreateVSwitch {name}: no VSwitchId")
        state["VSwitchIds"][name] = vsw

    r = CreateSecurityGroupRequest()
    r.set_VpcId(vpc_id)
    r.set_SecurityGroupName("old-sdk")
    r.set_Description("ICMP and all traffic from the VPC")
    sg = state["SecurityGroupId"] = call(c, r).get("SecurityGroupId")
    expect(isinstance(sg, str) and sg, "CreateSecurityGroup: no SecurityGroupId")
    for protocol in ("icmp", "all"):
        r = AuthorizeSecurityGroupRequest()
        r.set_SecurityGroupId(sg)
        r.set_IpProtocol(protocol)
        r.set_PortRange("-1/-1")
        r.set_SourceCidrIp(LAB_VPC_CIDR)
        call(c, r)

    for name, (vsw_name, ip) in LAB_INSTANCES.items():
        r = RunInstancesRequest()
        r.set_ZoneId(LAB_VSWITCHES[vsw_name][1])
        r.set_ImageId(LAB_IMAGE_ID)
        r.set_InstanceType(LAB_INSTANCE_TYPE)
        r.set_InstanceName(name)
        r.set_VSwitchId(state["VSwitchIds"][vsw_name])
        r.set_SecurityGroupId(sg)
        r.set_PrivateIpAddress(ip)
        r.set_Amount(1)
        ids = call(c, r).get("InstanceIdSets", {}).get("InstanceIdSet")
        expect(isinstance(ids, list) and len(ids) == 1, f"RunInstances {name}: InstanceIdSets.InstanceIdSet {ids!r}")
        state["InstanceIds"][name] = ids[0]

    # ---- verify through Describe*
    r = DescribeVpcsRequest()
    r.set_VpcId(vpc_id)
    vpcs = call(c, r).get("Vpcs", {}).get("Vpc", [])
    expect([v.get("CidrBlock") for v in vpcs] == [LAB_VPC_CIDR], f"DescribeVpcs(VpcId={vpc_id}): {vpcs!r}")
    r = DescribeVSwitchesRequest()
    r.set_VpcId(vpc_id)
    r.set_PageSize(PAGE_SIZE)
    vsws = {s["VSwitchId"] for s in call(c, r).get("VSwitches", {}).get("VSwitch", [])}
    expect(vsws == set(state["VSwitchIds"].values()), f"DescribeVSwitches(VpcId={vpc_id}): {sorted(vsws)!r}")
    r = DescribeSecurityGroupsRequest()
    r.set_VpcId(vpc_id)
    groups = [g["SecurityGroupId"] for g in call(c, r).get("SecurityGroups", {}).get("SecurityGroup", [])]
    expect(sg in groups, f"DescribeSecurityGroups(VpcId={vpc_id}): {groups!r} lacks {sg}")
    insts = _instances(c, vpc_id)
    for name, (vsw_name, ip) in LAB_INSTANCES.items():
        i = insts.get(state["InstanceIds"][name])
        expect(i is not None, f"DescribeInstances(VpcId={vpc_id}) lacks {name}")
        got = i.get("VpcAttributes", {}).get("PrivateIpAddress", {}).get("IpAddress")
        expect(got == [ip], f"DescribeInstances {name}: PrivateIpAddress {got!r} != {[ip]!r}")
        groups = i.get("SecurityGroupIds", {}).get("SecurityGroupId")
        expect(groups == [sg], f"DescribeInstances {name}: SecurityGroupIds {groups!r} != {[sg]!r}")


def _instances(c, vpc_id):
    r = DescribeInstancesRequest()
    r.set_VpcId(vpc_id)
    r.set_PageSize(PAGE_SIZE)
    return {i["InstanceId"]: i for i in call(c, r).get("Instances", {}).get("Instance", [])}


def cmd_teardown(args):
    c = client()
    vpc_id = args.vpc_id
    done = {"VpcId": vpc_id, "InstanceIds": [], "SecurityGroupIds": [], "VSwitchIds": []}
    for inst in _instances(c, vpc_id):
        r = DeleteInstanceRequest()
        r.set_InstanceId(inst)
        r.set_Force(True)
        call(c, r)
        done["InstanceIds"].append(inst)
    r = DescribeSecurityGroupsRequest()
    r.set_VpcId(vpc_id)
    for g in call(c, r).get("SecurityGroups", {}).get("SecurityGroup", []):
        r = DeleteSecurityGroupRequest()
        r.set_SecurityGroupId(g["SecurityGroupId"])
        call(c, r)
        done["SecurityGroupIds"].append(g["SecurityGroupId"])
    r = DescribeVSwitchesRequest()
    r.set_VpcId(vpc_id)
    r.set_PageSize(PAGE_SIZE)
    for s in call(c, r).get("VSwitches", {}).get("VSwitch", []):
        r = DeleteVSwitchRequest()
        r.set_VSwitchId(s["VSwitchId"])
        call(c, r)
        done["VSwitchIds"].append(s["VSwitchId"])
    r = DeleteVpcRequest()
    r.set_VpcId(vpc_id)
    call(c, r)
    print(json.dumps(done, sort_keys=True))
    return 0


def _alter_one_char(secret):
    last = secret[-1]
    return secret[:-1] + ("B" if last != "B" else "C")


def cmd_wrong_secret(_args):
    """The daemon answers 400 SignatureDoesNotMatch with its string to sign
    in the message, as the cloud does; the SDK compares that string with its
    own and, when they agree (only the secret is wrong), raises
    InvalidAccessKeySecret instead. Both the wire answer and the SDK's
    verdict are checked."""
    seen = {}
    original = AcsClient._get_server_exception

    def spy(self, http_status, response_body, endpoint, string_to_sign):
        seen.update(status=http_status, body=json.loads(response_body.decode("utf-8")), sdk_sts=string_to_sign)
        return original(self, http_status, response_body, endpoint, string_to_sign)

    AcsClient._get_server_exception = spy
    c = client(secret=_alter_one_char(env("VPC_ACCESS_KEY_SECRET")))
    try:
        call(c, DescribeVpcsRequest())
    except ServerException as exc:
        info = error_info(exc)
        wire = seen.get("body") or {}
        server_sts = (wire.get("Message") or "").partition("server string to sign is:")[2]
        out = {"status": seen.get("status"), "code": wire.get("Code"), "sdk_code": info["code"],
               "string_to_sign_agrees": bool(server_sts) and server_sts == seen.get("sdk_sts")}
        print(json.dumps(out))
        if (out["status"], out["code"], out["sdk_code"], out["string_to_sign_agrees"]) == (
                400, "SignatureDoesNotMatch", "InvalidAccessKeySecret", True):
            return 0
        log(f"wrong-secret: expected 400 SignatureDoesNotMatch with the SDK's own string to sign, got {json.dumps(out)}; "
            f"server message {wire.get('Message')!r}, SDK string to sign {seen.get('sdk_sts')!r}")
        return EXIT_MISMATCH
    finally:
        AcsClient._get_server_exception = original
    print(json.dumps({"code": None, "message": "call succeeded with a wrong secret"}))
    log("wrong-secret: DescribeVpcs succeeded although the secret was altered")
    return EXIT_MISMATCH


def main(argv=None):
    p = argparse.ArgumentParser(prog="old_sdk.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("build-lab", help="CreateVpc, CreateVSwitch x2, CreateSecurityGroup, AuthorizeSecurityGroup "
                                     "(ICMP and all from the VPC), RunInstances x2 (one per vSwitch); verify via "
                                     "Describe*; print one JSON line with the ids")
    td = sub.add_parser("teardown", help="DeleteInstance*, DeleteSecurityGroup*, DeleteVSwitch*, DeleteVpc")
    td.add_argument("--vpc-id", required=True)
    sub.add_parser("wrong-secret", help="DescribeVpcs with a corrupted secret must fail with SignatureDoesNotMatch")
    args = p.parse_args(argv)
    handler = {"build-lab": cmd_build_lab, "teardown": cmd_teardown, "wrong-secret": cmd_wrong_secret}[args.cmd]
    try:
        return handler(args)
    except Mismatch as exc:
        log(f"{args.cmd}: MISMATCH: {exc}")
        return EXIT_MISMATCH
    except Exception as exc:  # noqa: BLE001 - any SDK/transport error
        log(f"{args.cmd}: unexpected SDK error: {json.dumps(error_info(exc))}")
        return EXIT_SDK_ERROR


if __name__ == "__main__":
    sys.exit(main())
