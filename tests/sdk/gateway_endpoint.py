#!/usr/bin/env python3
"""Prefix lists and gateway endpoints through the *official* VPC SDK
(alibabacloud_vpc20160428), against the vpc-router daemon.

Commands (environment as vpc_lab.py's):
  prefix-lists       ListPrefixLists (the object storage system list), Create/
                     Modify/DeleteVpcPrefixList, GetVpcPrefixListEntries,
                     GetVpcPrefixListAssociations, a route entry whose
                     destination is a prefix list (RT-1); every refusal by
                     Code and HTTP status.
  gateway-endpoints  ListVpcEndpointServicesByEndUser, CreateVpcGatewayEndpoint
                     (with an endpoint policy), List/Get/Update..., Associate/
                     Dissociate route tables (GWE-2..GWE-4), Delete; every
                     refusal by Code and HTTP status.

Each prints one JSON line {"ok": true, ...}; exit status as vpc_lab.py's.
Every answer is checked against the SDK's response model (conformance.py,
installed by importing vpc_lab).
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vpc_lab  # noqa: E402  (first: harness clears the proxy variables, conformance is installed)
from harness import EXIT_MISMATCH, EXIT_SDK_ERROR, Mismatch, expect, log, region  # noqa: E402
from vpc_lab import body_of, runtime, sdk_error_info, vpc_client  # noqa: E402
from alibabacloud_vpc20160428 import models as m  # noqa: E402

OSS = f"com.aliyun.{region()}.oss"
OSS_LIST = f"pl-{region()}-oss"
OSS_BLOCKS = ["100.118.28.0/24", "100.118.29.0/24"]
POLICY = json.dumps({
    "Version": "1",
    "Statement": [{
        "Effect": "Allow",
        "Action": ["oss:*"],
        "Principal": ["1746000000000000"],
        "Resource": ["acs:oss:*:*:examplebucket", "acs:oss:*:*:examplebucket/*"],
    }],
})


class Refusals:
    """Calls that must fail, each with its Code and HTTP status."""

    def __init__(self):
        self.results = []

    def expect(self, label, code, status, call):
        try:
            call()
        except Exception as exc:  # noqa: BLE001
            info = sdk_error_info(exc)
            if info["code"] is None:
                raise
            ok = info["code"] == code and info["status"] == status
            self.results.append({"call": label, "want": [code, status],
                                 "got": [info["code"], info["status"]], "ok": ok})
            if not ok:
                raise Mismatch(f"{label}: want {code} ({status}), got {info['code']} "
                               f"({info['status']}): {info['message']}")
            return
        raise Mismatch(f"{label}: succeeded, want {code} ({status})")


def call(method, request, action):
    return body_of(method(request, runtime()), action)


def vpc_with_vswitch(vpc, cidr):
    v = call(vpc.create_vpc_with_options,
             m.CreateVpcRequest(region_id=region(), cidr_block=cidr, vpc_name="gwe"), "CreateVpc")
    vsw_cidr = cidr.replace(".0.0/16", ".1.0/24")
    s = call(vpc.create_vswitch_with_options,
             m.CreateVSwitchRequest(region_id=region(), vpc_id=v.vpc_id, cidr_block=vsw_cidr,
                                    zone_id=f"{region()}-a"), "CreateVSwitch")
    return v.vpc_id, v.route_table_id, s.v_switch_id


def route_entries(vpc, table, **filters):
    b = call(vpc.describe_route_entry_list_with_options,
             m.DescribeRouteEntryListRequest(region_id=region(), route_table_id=table, **filters),
             "DescribeRouteEntryList")
    return b.route_entrys.route_entry if b.route_entrys and b.route_entrys.route_entry else []


def list_entries(vpc, pl):
    b = call(vpc.get_vpc_prefix_list_entries_with_options,
             m.GetVpcPrefixListEntriesRequest(region_id=region(), prefix_list_id=pl),
             "GetVpcPrefixListEntries")
    return [e.cidr for e in b.prefix_list_entry or []]


def cmd_prefix_lists():
    vpc, r = vpc_client(), Refusals()
    # The object storage service's system prefix list.
    b = call(vpc.list_prefix_lists_with_options,
             m.ListPrefixListsRequest(region_id=region(), prefix_list_ids=[OSS_LIST]), "ListPrefixLists")
    expect(len(b.prefix_lists) == 1, f"ListPrefixLists({OSS_LIST}): {b.to_map()}")
    sys_list = b.prefix_lists[0]
    expect(sorted(sys_list.cidr_blocks) == OSS_BLOCKS, f"system list blocks {sys_list.cidr_blocks}")
    expect(sys_list.prefix_list_status == "Created", f"system list status {sys_list.prefix_list_status}")
    expect(list_entries(vpc, OSS_LIST) == OSS_BLOCKS, "GetVpcPrefixListEntries of the system list")

    created = call(vpc.create_vpc_prefix_list_with_options, m.CreateVpcPrefixListRequest(
        region_id=region(), prefix_list_name="office", prefix_list_description="the offices",
        max_entries=3, ip_version="IPV4",
        prefix_list_entries=[m.CreateVpcPrefixListRequestPrefixListEntries(cidr="172.16.0.0/24",
                                                                           description="hq")],
        tag=[m.CreateVpcPrefixListRequestTag(key="env", value="lab")]), "CreateVpcPrefixList")
    pl = created.prefix_list_id
    expect(pl.startswith("pl-"), f"PrefixListId {pl}")
    b = call(vpc.list_prefix_lists_with_options, m.ListPrefixListsRequest(
        region_id=region(), tags=[m.ListPrefixListsRequestTags(key="env", value="lab")]), "ListPrefixLists")
    expect([p.prefix_list_id for p in b.prefix_lists] == [pl], f"ListPrefixLists(Tags env=lab): {b.to_map()}")
    mine = b.prefix_lists[0]
    expect((mine.prefix_list_name, mine.max_entries, mine.cidr_blocks, mine.ip_version)
           == ("office", 3, ["172.16.0.0/24"], "IPV4"), f"the list: {mine.to_map()}")

    # A route entry whose destination is the list (RT-1).
    vpc_id, system, vsw = vpc_with_vswitch(vpc, "10.31.0.0/16")
    table = call(vpc.create_route_table_with_options,
                 m.CreateRouteTableRequest(region_id=region(), vpc_id=vpc_id), "CreateRouteTable").route_table_id
    # Next hop: a NAT gateway is no instance to boot; an IPv4 gateway will do.
    gw = call(vpc.create_ipv_4gateway_with_options,
              m.CreateIpv4GatewayRequest(region_id=region(), vpc_id=vpc_id), "CreateIpv4Gateway").ipv_4gateway_id
    rte = call(vpc.create_route_entry_with_options, m.CreateRouteEntryRequest(
        region_id=region(), route_table_id=table, destination_cidr_block=pl,
        next_hop_type="Ipv4Gateway", next_hop_id=gw), "CreateRouteEntry").route_entry_id
    entries = route_entries(vpc, table, destination_cidr_block=pl)
    expect([(e.route_entry_id, e.destination_cidr_block, e.type) for e in entries] == [(rte, pl, "Custom")],
           f"DescribeRouteEntryList(DestinationCidrBlock={pl}): {[e.to_map() for e in entries]}")
    b = call(vpc.get_vpc_prefix_list_associations_with_options,
             m.GetVpcPrefixListAssociationsRequest(region_id=region(), prefix_list_id=pl),
             "GetVpcPrefixListAssociations")
    expect([(a.resource_id, a.resource_type, a.status) for a in b.prefix_list_association]
           == [(table, "vpcRouteTable", "Created")], f"associations: {b.to_map()}")

    # Refusals, each changing nothing.
    r.expect("CreateVpcPrefixList(IpVersion=IPV6)", "InvalidIpVersion.NotSupported", 400,
             lambda: vpc.create_vpc_prefix_list_with_options(m.CreateVpcPrefixListRequest(
                 region_id=region(), prefix_list_name="v6", ip_version="IPV6", max_entries=5), runtime()))
    r.expect("CreateVpcPrefixList(MaxEntries=1, 2 entries)", "QuotaExceeded.PrefixListEntry", 400,
             lambda: vpc.create_vpc_prefix_list_with_options(m.CreateVpcPrefixListRequest(
                 region_id=region(), max_entries=1, prefix_list_entries=[
                     m.CreateVpcPrefixListRequestPrefixListEntries(cidr="172.17.0.0/24"),
                     m.CreateVpcPrefixListRequestPrefixListEntries(cidr="172.17.1.0/24")]), runtime()))
    r.expect("CreateVpcPrefixList(Cidr=172.17.0.1/24)", "InvalidCidrBlock.Malformed", 400,
             lambda: vpc.create_vpc_prefix_list_with_options(m.CreateVpcPrefixListRequest(
                 region_id=region(), max_entries=5, prefix_list_entries=[
                     m.CreateVpcPrefixListRequestPrefixListEntries(cidr="172.17.0.1/24")]), runtime()))

    def modify(**kw):
        return lambda: vpc.modify_vpc_prefix_list_with_options(
            m.ModifyVpcPrefixListRequest(region_id=region(), **kw), runtime())

    add = m.ModifyVpcPrefixListRequestAddPrefixListEntry
    rem = m.ModifyVpcPrefixListRequestRemovePrefixListEntry
    r.expect("ModifyVpcPrefixList(duplicate Cidr)", "InvalidCidr.Duplicated", 400,
             modify(prefix_list_id=pl, add_prefix_list_entry=[add(cidr="172.16.0.0/24")]))
    r.expect("ModifyVpcPrefixList(beyond MaxEntries)", "QuotaExceeded.PrefixListEntry", 400,
             modify(prefix_list_id=pl, add_prefix_list_entry=[
                 add(cidr="172.16.1.0/24"), add(cidr="172.16.2.0/24"), add(cidr="172.16.3.0/24")]))
    r.expect("ModifyVpcPrefixList(remove an absent Cidr)", "InvalidCidr.NotFound", 404,
             modify(prefix_list_id=pl, remove_prefix_list_entry=[rem(cidr="192.168.9.0/24")]))
    r.expect("ModifyVpcPrefixList(a vSwitch's block, routed by a table)", "InvalidCIDRBlock.Duplicate", 400,
             modify(prefix_list_id=pl, add_prefix_list_entry=[add(cidr="10.31.1.0/24")]))
    r.expect("ModifyVpcPrefixList(system list)", "OperationDenied.SystemPrefixList", 400,
             modify(prefix_list_id=OSS_LIST, prefix_list_name="mine"))
    r.expect("ModifyVpcPrefixList(pl-doesnotexist)", "InvalidPrefixListId.NotFound", 404,
             modify(prefix_list_id="pl-doesnotexist", prefix_list_name="x"))
    r.expect("DeleteVpcPrefixList(system list)", "OperationDenied.SystemPrefixList", 400,
             lambda: vpc.delete_vpc_prefix_list_with_options(m.DeleteVpcPrefixListRequest(
                 region_id=region(), prefix_list_id=OSS_LIST), runtime()))
    r.expect("DeleteVpcPrefixList(routed)", "DependencyViolation.PrefixListAssociation", 400,
             lambda: vpc.delete_vpc_prefix_list_with_options(m.DeleteVpcPrefixListRequest(
                 region_id=region(), prefix_list_id=pl), runtime()))
    r.expect("GetVpcPrefixListEntries(pl-doesnotexist)", "InvalidPrefixListId.NotFound", 404,
             lambda: vpc.get_vpc_prefix_list_entries_with_options(m.GetVpcPrefixListEntriesRequest(
                 region_id=region(), prefix_list_id="pl-doesnotexist"), runtime()))
    r.expect("CreateRouteEntry(DestinationCidrBlock=system list)", "OperationDenied.SystemPrefixList", 400,
             lambda: vpc.create_route_entry_with_options(m.CreateRouteEntryRequest(
                 region_id=region(), route_table_id=table, destination_cidr_block=OSS_LIST,
                 next_hop_type="Ipv4Gateway", next_hop_id=gw), runtime()))
    r.expect("CreateRouteEntry(the list again)", "InvalidCIDRBlock.Duplicate", 400,
             lambda: vpc.create_route_entry_with_options(m.CreateRouteEntryRequest(
                 region_id=region(), route_table_id=table, destination_cidr_block=pl,
                 next_hop_type="Ipv4Gateway", next_hop_id=gw), runtime()))
    expect(list_entries(vpc, pl) == ["172.16.0.0/24"], f"refusals changed the list: {list_entries(vpc, pl)}")

    # A change: one block out, two in; the routes follow (RT-1).
    call(vpc.modify_vpc_prefix_list_with_options, m.ModifyVpcPrefixListRequest(
        region_id=region(), prefix_list_id=pl, prefix_list_name="offices",
        remove_prefix_list_entry=[rem(cidr="172.16.0.0/24")],
        add_prefix_list_entry=[add(cidr="172.16.4.0/24", description="a"), add(cidr="172.16.5.0/24")]),
        "ModifyVpcPrefixList")
    expect(list_entries(vpc, pl) == ["172.16.4.0/24", "172.16.5.0/24"], f"after Modify: {list_entries(vpc, pl)}")

    # Clean up: the route, the list, the gateway, the table, the VPC.
    call(vpc.delete_route_entry_with_options, m.DeleteRouteEntryRequest(
        region_id=region(), route_table_id=table, destination_cidr_block=pl), "DeleteRouteEntry")
    call(vpc.delete_vpc_prefix_list_with_options,
         m.DeleteVpcPrefixListRequest(region_id=region(), prefix_list_id=pl), "DeleteVpcPrefixList")
    b = call(vpc.list_prefix_lists_with_options, m.ListPrefixListsRequest(region_id=region()), "ListPrefixLists")
    expect([p.prefix_list_id for p in b.prefix_lists] == [OSS_LIST], f"after Delete: {b.to_map()}")
    print(json.dumps({"ok": True, "prefix_list": pl, "vpc": vpc_id, "table": table, "system_table": system,
                      "vswitch": vsw, "gateway": gw, "refusals": r.results}))
    return 0


def cmd_gateway_endpoints():
    vpc, r = vpc_client(), Refusals()
    b = call(vpc.list_vpc_endpoint_services_by_end_user_with_options,
             m.ListVpcEndpointServicesByEndUserRequest(region_id=region()), "ListVpcEndpointServicesByEndUser")
    expect([s.service_name for s in b.services] == [OSS], f"services: {b.to_map()}")
    default = json.loads(b.services[0].default_policy_document)
    expect(default["Statement"][0]["Effect"] == "Allow", f"default policy {default}")

    vpc_id, system, vsw = vpc_with_vswitch(vpc, "10.32.0.0/16")
    custom = call(vpc.create_route_table_with_options,
                  m.CreateRouteTableRequest(region_id=region(), vpc_id=vpc_id), "CreateRouteTable").route_table_id
    other_vpc, other_table, _ = vpc_with_vswitch(vpc, "10.33.0.0/16")

    def create(**kw):
        return lambda: vpc.create_vpc_gateway_endpoint_with_options(
            m.CreateVpcGatewayEndpointRequest(region_id=region(), **kw), runtime())

    r.expect("CreateVpcGatewayEndpoint(no such service)", "InvalidServiceName.NotFound", 404,
             create(vpc_id=vpc_id, service_name=f"com.aliyun.{region()}.nas"))
    r.expect("CreateVpcGatewayEndpoint(vpc-doesnotexist)", "InvalidVpcId.NotFound", 404,
             create(vpc_id="vpc-doesnotexist", service_name=OSS))
    r.expect("CreateVpcGatewayEndpoint(no ServiceName)", "MissingParameter", 400, create(vpc_id=vpc_id))
    r.expect("CreateVpcGatewayEndpoint(bad PolicyDocument)", "IllegalParam.PolicyDocument", 400,
             create(vpc_id=vpc_id, service_name=OSS, policy_document="{\"Version\": \"1\""))

    created = call(vpc.create_vpc_gateway_endpoint_with_options, m.CreateVpcGatewayEndpointRequest(
        region_id=region(), vpc_id=vpc_id, service_name=OSS, endpoint_name="oss",
        endpoint_description="to object storage", policy_document=POLICY,
        tag=[m.CreateVpcGatewayEndpointRequestTag(key="env", value="lab")]), "CreateVpcGatewayEndpoint")
    ep = created.endpoint_id
    expect(ep.startswith("vpce-") and created.service_name == OSS, f"created: {created.to_map()}")
    r.expect("CreateVpcGatewayEndpoint(second for the service, GWE-3)", "ResourceAlreadyExist.GatewayEndpoint",
             400, create(vpc_id=vpc_id, service_name=OSS))
    other_ep = call(vpc.create_vpc_gateway_endpoint_with_options, m.CreateVpcGatewayEndpointRequest(
        region_id=region(), vpc_id=other_vpc, service_name=OSS), "CreateVpcGatewayEndpoint").endpoint_id

    b = call(vpc.list_vpc_gateway_endpoints_with_options, m.ListVpcGatewayEndpointsRequest(
        region_id=region(), tags=[m.ListVpcGatewayEndpointsRequestTags(key="env", value="lab")]),
        "ListVpcGatewayEndpoints")
    expect([(e.endpoint_id, e.endpoint_name, e.endpoint_status, e.policy_document) for e in b.endpoints]
           == [(ep, "oss", "Created", POLICY)], f"ListVpcGatewayEndpoints(Tags): {b.to_map()}")
    b = call(vpc.list_vpc_gateway_endpoints_with_options, m.ListVpcGatewayEndpointsRequest(
        region_id=region(), max_results=1), "ListVpcGatewayEndpoints")
    expect(len(b.endpoints) == 1 and b.next_token, f"page 1: {b.to_map()}")
    b2 = call(vpc.list_vpc_gateway_endpoints_with_options, m.ListVpcGatewayEndpointsRequest(
        region_id=region(), max_results=1, next_token=b.next_token), "ListVpcGatewayEndpoints")
    expect(len(b2.endpoints) == 1 and b2.endpoints[0].endpoint_id != b.endpoints[0].endpoint_id,
           f"page 2: {b2.to_map()}")

    def assoc(endpoint, tables):
        return lambda: vpc.associate_route_tables_with_vpc_gateway_endpoint_with_options(
            m.AssociateRouteTablesWithVpcGatewayEndpointRequest(
                region_id=region(), endpoint_id=endpoint, route_table_ids=tables), runtime())

    def dissoc(endpoint, tables):
        return lambda: vpc.dissociate_route_tables_from_vpc_gateway_endpoint_with_options(
            m.DissociateRouteTablesFromVpcGatewayEndpointRequest(
                region_id=region(), endpoint_id=endpoint, route_table_ids=tables), runtime())

    # GWE-2: each table gets {system prefix list -> endpoint}.
    assoc(ep, [system, custom])()
    for t in (system, custom):
        entries = route_entries(vpc, t, next_hop_type="GatewayEndpoint")
        got = [(e.destination_cidr_block, e.type, e.next_hops.next_hop[0].next_hop_id) for e in entries]
        expect(got == [(OSS_LIST, "Custom", ep)], f"DescribeRouteEntryList({t}): {got}")
    attr = call(vpc.get_vpc_gateway_endpoint_attribute_with_options,
                m.GetVpcGatewayEndpointAttributeRequest(region_id=region(), endpoint_id=ep),
                "GetVpcGatewayEndpointAttribute")
    expect(sorted(attr.route_tables) == sorted([system, custom]) and attr.endpoint_status == "Created",
           f"GetVpcGatewayEndpointAttribute: {attr.to_map()}")

    r.expect("Associate(a table of another VPC)", "Forbidden.NotInSameVpc", 400, assoc(ep, [other_table]))
    r.expect("Associate(a table already associated, GWE-3)", "ResourceAlreadyAssociated.RouteTable", 400,
             assoc(ep, [system]))
    r.expect("Associate(vtb-doesnotexist)", "InvalidRouteTableId.NotFound", 404, assoc(ep, ["vtb-doesnotexist"]))
    r.expect("Associate(vpce-doesnotexist)", "ResourceNotFound.GatewayEndpoint", 404,
             assoc("vpce-doesnotexist", [system]))
    rte = route_entries(vpc, system, next_hop_type="GatewayEndpoint")[0].route_entry_id
    r.expect("DeleteRouteEntry(the endpoint's route)", "OperationDenied.GatewayEndpointRouteEntry", 400,
             lambda: vpc.delete_route_entry_with_options(m.DeleteRouteEntryRequest(
                 region_id=region(), route_entry_id=rte), runtime()))
    r.expect("DeleteVpcGatewayEndpoint(tables associated, GWE-4)", "DependencyViolation.RouteTable", 400,
             lambda: vpc.delete_vpc_gateway_endpoint_with_options(m.DeleteVpcGatewayEndpointRequest(
                 region_id=region(), endpoint_id=ep), runtime()))
    r.expect("UpdateVpcGatewayEndpointAttribute(bad PolicyDocument)", "IllegalParam.PolicyDocument", 400,
             lambda: vpc.update_vpc_gateway_endpoint_attribute_with_options(
                 m.UpdateVpcGatewayEndpointAttributeRequest(region_id=region(), endpoint_id=ep,
                                                             endpoint_name="changed", policy_document="[1,"),
                 runtime()))
    attr = call(vpc.get_vpc_gateway_endpoint_attribute_with_options,
                m.GetVpcGatewayEndpointAttributeRequest(region_id=region(), endpoint_id=ep),
                "GetVpcGatewayEndpointAttribute")
    expect((attr.endpoint_name, attr.policy_document) == ("oss", POLICY), f"a refused update changed {attr.to_map()}")

    call(vpc.update_vpc_gateway_endpoint_attribute_with_options, m.UpdateVpcGatewayEndpointAttributeRequest(
        region_id=region(), endpoint_id=ep, endpoint_name="oss2", endpoint_description="d",
        policy_document=default and json.dumps(default)), "UpdateVpcGatewayEndpointAttribute")
    attr = call(vpc.get_vpc_gateway_endpoint_attribute_with_options,
                m.GetVpcGatewayEndpointAttributeRequest(region_id=region(), endpoint_id=ep),
                "GetVpcGatewayEndpointAttribute")
    expect((attr.endpoint_name, attr.endpoint_description, json.loads(attr.policy_document))
           == ("oss2", "d", default), f"after Update: {attr.to_map()}")

    # GWE-4: dissociating removes the route; then the endpoint can go.
    dissoc(ep, [system])()
    expect(not route_entries(vpc, system, next_hop_type="GatewayEndpoint"), "the route stays after Dissociate")
    expect(len(route_entries(vpc, custom, next_hop_type="GatewayEndpoint")) == 1, "Dissociate took another table")
    r.expect("Dissociate(a table not associated)", "ResourceNotAssociated.RouteTable", 400, dissoc(ep, [system]))
    dissoc(ep, [custom])()
    for e in (ep, other_ep):
        call(vpc.delete_vpc_gateway_endpoint_with_options,
             m.DeleteVpcGatewayEndpointRequest(region_id=region(), endpoint_id=e), "DeleteVpcGatewayEndpoint")
    b = call(vpc.list_vpc_gateway_endpoints_with_options, m.ListVpcGatewayEndpointsRequest(region_id=region()),
             "ListVpcGatewayEndpoints")
    expect(not b.endpoints, f"after Delete: {b.to_map()}")
    print(json.dumps({"ok": True, "vpc": vpc_id, "system_table": system, "custom_table": custom,
                      "refusals": r.results}))
    return 0


def main(argv):
    commands = {"prefix-lists": cmd_prefix_lists, "gateway-endpoints": cmd_gateway_endpoints}
    if len(argv) != 1 or argv[0] not in commands:
        log(f"usage: gateway_endpoint.py {{{','.join(commands)}}}")
        return 2
    try:
        return commands[argv[0]]()
    except Mismatch as exc:
        log(f"{argv[0]}: MISMATCH: {exc}")
        return EXIT_MISMATCH
    except Exception as exc:  # noqa: BLE001 - any SDK/transport error
        log(f"{argv[0]}: unexpected SDK error: {json.dumps(sdk_error_info(exc), default=str)}")
        return EXIT_SDK_ERROR


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
