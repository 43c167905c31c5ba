#!/usr/bin/env python3
"""PrivateLink through the *official* PrivateLink SDK
(alibabacloud_privatelink20200415, unmodified), against the vpc-router
daemon, with three accounts; VPCs, instances and the load balancer through
the VPC, ECS and NLB SDKs.

Commands (environment as vpc_lab.py's, plus PL_CONSUMER_KEY_ID,
PL_CONSUMER_KEY_SECRET, PL_CONSUMER_ACCOUNT, PL_STRANGER_KEY_ID,
PL_STRANGER_KEY_SECRET, PL_STRANGER_ACCOUNT: the consumer's and a third
account's keys; the provider is VPC_ACCESS_KEY_ID's account):
  walkthrough  The provider (VPC 10.30.0.0/16) puts an NLB in two zones
               behind an endpoint service that does not auto-accept and
               whitelists the consumer; the third account neither sees it
               (ListVpcEndpointServicesByEndUser) nor connects to it; the
               consumer (VPC 10.30.0.0/16 too: overlapping blocks) creates
               an endpoint in both zones: Disconnected, zones Wait; the
               provider lists the connection, accepts it (Connected), cuts
               one zone and restores it, sets its bandwidth, disables it;
               tags filter the consumer's endpoints; refusals by Code and
               HTTP status; deleting the service leaves the endpoint
               ServiceDeleted; every resource deleted at the end.

Prints one JSON line {"ok": true, ...}; exit status as vpc_lab.py's.
Every answer is checked against the SDK's response model (conformance.py,
installed by importing vpc_lab).
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vpc_lab  # noqa: E402  (first: harness clears the proxy variables, conformance is installed)
from harness import EXIT_MISMATCH, EXIT_SDK_ERROR, Mismatch, env, expect, log, region  # noqa: E402
from vpc_lab import body_of, runtime, sdk_error_info, timeout_ms  # noqa: E402
from alibabacloud_ecs20140526 import models as em  # noqa: E402
from alibabacloud_ecs20140526.client import Client as EcsClient  # noqa: E402
from alibabacloud_nlb20220430 import models as nm  # noqa: E402
from alibabacloud_nlb20220430.client import Client as NlbClient  # noqa: E402
from alibabacloud_privatelink20200415 import models as pm  # noqa: E402
from alibabacloud_privatelink20200415.client import Client as PlClient  # noqa: E402
from alibabacloud_tea_openapi.utils_models import Config  # noqa: E402
from alibabacloud_vpc20160428 import models as vm  # noqa: E402
from alibabacloud_vpc20160428.client import Client as VpcClient  # noqa: E402


class Account:
    """One account's clients of the four products."""

    def __init__(self, key_id, secret):
        t = timeout_ms()
        cfg = Config(access_key_id=key_id, access_key_secret=secret, endpoint=env("VPC_ENDPOINT"),
                     protocol="http", region_id=region(), read_timeout=t, connect_timeout=min(2000, t))
        self.vpc, self.ecs = VpcClient(cfg), EcsClient(cfg)
        self.nlb, self.pl = NlbClient(cfg), PlClient(cfg)


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


def zone(z):
    return f"{region()}-{z}"


def network(acc, name):
    """A VPC 10.30.0.0/16 with vSwitches in zones a and b and a security
    group: (vpc, {zone: vsw}, sg)."""
    v = call(acc.vpc.create_vpc_with_options,
             vm.CreateVpcRequest(region_id=region(), cidr_block="10.30.0.0/16", vpc_name=name), "CreateVpc")
    vsw = {}
    for z, cidr in (("a", "10.30.1.0/24"), ("b", "10.30.2.0/24")):
        vsw[z] = call(acc.vpc.create_vswitch_with_options,
                      vm.CreateVSwitchRequest(region_id=region(), vpc_id=v.vpc_id, cidr_block=cidr, zone_id=zone(z)),
                      "CreateVSwitch").v_switch_id
    sg = call(acc.ecs.create_security_group_with_options,
              em.CreateSecurityGroupRequest(region_id=region(), vpc_id=v.vpc_id, security_group_name=name),
              "CreateSecurityGroup").security_group_id
    return v.vpc_id, vsw, sg


def endpoint_request(vpc_id, vsw, sg, service_id, **extra):
    return pm.CreateVpcEndpointRequest(
        region_id=region(), vpc_id=vpc_id, service_id=service_id, security_group_id=[sg],
        zone=[pm.CreateVpcEndpointRequestZone(v_switch_id=vsw["a"], zone_id=zone("a"), ip="10.30.1.50"),
              pm.CreateVpcEndpointRequestZone(v_switch_id=vsw["b"], zone_id=zone("b"))], **extra)


def cmd_walkthrough():
    provider = Account(env("VPC_ACCESS_KEY_ID"), env("VPC_ACCESS_KEY_SECRET"))
    consumer = Account(env("PL_CONSUMER_KEY_ID"), env("PL_CONSUMER_KEY_SECRET"))
    stranger = Account(env("PL_STRANGER_KEY_ID"), env("PL_STRANGER_KEY_SECRET"))
    consumer_account = int(env("PL_CONSUMER_ACCOUNT"))
    r = Refusals()
    p, c, s = provider.pl, consumer.pl, stranger.pl

    # Provider: an internal NLB in both zones, a service of it (manual acceptance).
    pvpc, pvsw, psg = network(provider, "provider")
    lb = call(provider.nlb.create_load_balancer_with_options, nm.CreateLoadBalancerRequest(
        region_id=region(), address_type="Intranet", vpc_id=pvpc, zone_mappings=[
            nm.CreateLoadBalancerRequestZoneMappings(v_switch_id=pvsw[z], zone_id=zone(z)) for z in "ab"]),
        "CreateLoadBalancer").loadbalancer_id
    srv = call(p.create_vpc_endpoint_service_with_options, pm.CreateVpcEndpointServiceRequest(
        region_id=region(), service_resource_type="nlb", auto_accept_enabled=False, zone_affinity_enabled=True,
        service_description="web service", payer="Endpoint",
        resource=[pm.CreateVpcEndpointServiceRequestResource(resource_id=lb, resource_type="nlb", zone_id=zone(z))
                  for z in "ab"],
        tag=[pm.CreateVpcEndpointServiceRequestTag(key="tier", value="web")]), "CreateVpcEndpointService")
    expect(srv.service_status == "Active" and srv.auto_accept_enabled is False
           and srv.service_name.endswith(srv.service_id), f"service {srv.to_map()}")
    sid = srv.service_id
    a = call(p.get_vpc_endpoint_service_attribute_with_options,
             pm.GetVpcEndpointServiceAttributeRequest(region_id=region(), service_id=sid),
             "GetVpcEndpointServiceAttribute")
    expect(sorted(a.zones) == [zone("a"), zone("b")] and a.service_resource_type == "nlb"
           and a.service_domain == f"{sid}.{region()}.privatelink.aliyuncs.com", f"attribute {a.to_map()}")
    res = call(p.list_vpc_endpoint_service_resources_with_options,
               pm.ListVpcEndpointServiceResourcesRequest(region_id=region(), service_id=sid),
               "ListVpcEndpointServiceResources")
    expect(sorted((x.resource_id, x.zone_id, x.vpc_id) for x in res.resources)
           == [(lb, zone("a"), pvpc), (lb, zone("b"), pvpc)], f"resources {res.to_map()}")
    listed = call(p.list_vpc_endpoint_services_with_options, pm.ListVpcEndpointServicesRequest(
        region_id=region(), tag=[pm.ListVpcEndpointServicesRequestTag(key="tier", value="web")]),
        "ListVpcEndpointServices")
    expect([x.service_id for x in listed.services] == [sid], f"services by tag {listed.to_map()}")
    call(p.add_user_to_vpc_endpoint_service_with_options, pm.AddUserToVpcEndpointServiceRequest(
        region_id=region(), service_id=sid, user_id=consumer_account), "AddUserToVpcEndpointService")
    users = call(p.list_vpc_endpoint_service_users_with_options, pm.ListVpcEndpointServiceUsersRequest(
        region_id=region(), service_id=sid), "ListVpcEndpointServiceUsers")
    uids = [u.user_id for u in users.users]
    expect(len(uids) == 2 and consumer_account in uids, f"whitelist (EPS-2: the owner too) {users.to_map()}")

    # The third account: does not see the service, cannot connect.
    seen = call(s.list_vpc_endpoint_services_by_end_user_with_options,
                pm.ListVpcEndpointServicesByEndUserRequest(region_id=region()), "ListVpcEndpointServicesByEndUser")
    expect(sid not in [x.service_id for x in seen.services], f"the stranger sees {seen.to_map()}")
    svpc, svsw, ssg = network(stranger, "stranger")
    r.expect("CreateVpcEndpoint not whitelisted", "Forbidden.NotInWhitelist", 403,
             lambda: s.create_vpc_endpoint_with_options(endpoint_request(svpc, svsw, ssg, sid), runtime()))

    # The consumer: sees it; its endpoint waits for the provider (CONN-3).
    seen = call(c.list_vpc_endpoint_services_by_end_user_with_options,
                pm.ListVpcEndpointServicesByEndUserRequest(region_id=region(), service_name=srv.service_name),
                "ListVpcEndpointServicesByEndUser")
    expect([x.service_id for x in seen.services] == [sid], f"the consumer sees {seen.to_map()}")
    cvpc, cvsw, csg = network(consumer, "consumer")
    ep = call(c.create_vpc_endpoint_with_options, endpoint_request(
        cvpc, cvsw, csg, sid, endpoint_name="web", endpoint_description="to the web service",
        tag=[pm.CreateVpcEndpointRequestTag(key="env", value="prod")]), "CreateVpcEndpoint")
    expect((ep.endpoint_status, ep.connection_status) == ("Active", "Disconnected"), f"endpoint {ep.to_map()}")
    eid = ep.endpoint_id
    zones = call(c.list_vpc_endpoint_zones_with_options, pm.ListVpcEndpointZonesRequest(
        region_id=region(), endpoint_id=eid), "ListVpcEndpointZones")
    got = sorted((z.zone_id, z.zone_status) for z in zones.zones)
    expect(got == [(zone("a"), "Wait"), (zone("b"), "Wait")], f"zones {zones.to_map()}")
    eni_a = [z for z in zones.zones if z.zone_id == zone("a")][0]
    expect(eni_a.eni_ip == "10.30.1.50" and eni_a.eni_id.startswith("eni-")
           and eni_a.zone_domain.startswith(f"{eid}-{zone('a')}."), f"zone a {eni_a.to_map()}")
    conns = call(p.list_vpc_endpoint_connections_with_options, pm.ListVpcEndpointConnectionsRequest(
        region_id=region(), service_id=sid), "ListVpcEndpointConnections")
    expect([(x.endpoint_id, x.endpoint_owner_id, x.connection_status, x.endpoint_vpc_id) for x in conns.connections]
           == [(eid, consumer_account, "Disconnected", cvpc)], f"connections {conns.to_map()}")
    r.expect("EnableVpcEndpointConnection by the consumer", "EndpointServiceNotFound", 404,
             lambda: c.enable_vpc_endpoint_connection_with_options(pm.EnableVpcEndpointConnectionRequest(
                 region_id=region(), service_id=sid, endpoint_id=eid), runtime()))
    r.expect("DisableVpcEndpointConnection not connected", "EndpointConnectionOperationDenied", 400,
             lambda: p.disable_vpc_endpoint_connection_with_options(pm.DisableVpcEndpointConnectionRequest(
                 region_id=region(), service_id=sid, endpoint_id=eid), runtime()))

    # The provider accepts (CONN-1): Connected, every zone too.
    call(p.enable_vpc_endpoint_connection_with_options, pm.EnableVpcEndpointConnectionRequest(
        region_id=region(), service_id=sid, endpoint_id=eid), "EnableVpcEndpointConnection")
    got = call(c.get_vpc_endpoint_attribute_with_options, pm.GetVpcEndpointAttributeRequest(
        region_id=region(), endpoint_id=eid), "GetVpcEndpointAttribute")
    expect(got.connection_status == "Connected" and got.endpoint_domain.startswith(f"{eid}.{sid}."),
           f"accepted {got.to_map()}")
    call(p.disable_vpc_endpoint_zone_connection_with_options, pm.DisableVpcEndpointZoneConnectionRequest(
        region_id=region(), service_id=sid, endpoint_id=eid, zone_id=zone("b")), "DisableVpcEndpointZoneConnection")
    conns = call(p.list_vpc_endpoint_connections_with_options, pm.ListVpcEndpointConnectionsRequest(
        region_id=region(), service_id=sid, endpoint_id=eid), "ListVpcEndpointConnections")
    got = sorted((z.zone_id, z.zone_status, z.resource_id) for z in conns.connections[0].zones)
    expect(got == [(zone("a"), "Connected", lb), (zone("b"), "Disconnected", lb)], f"zone b cut {conns.to_map()}")
    r.expect("DisableVpcEndpointZoneConnection twice", "EndpointConnectionOperationDenied", 400,
             lambda: p.disable_vpc_endpoint_zone_connection_with_options(
                 pm.DisableVpcEndpointZoneConnectionRequest(region_id=region(), service_id=sid, endpoint_id=eid,
                                                            zone_id=zone("b")), runtime()))
    call(p.enable_vpc_endpoint_zone_connection_with_options, pm.EnableVpcEndpointZoneConnectionRequest(
        region_id=region(), service_id=sid, endpoint_id=eid, zone_id=zone("b")), "EnableVpcEndpointZoneConnection")
    call(p.update_vpc_endpoint_connection_attribute_with_options, pm.UpdateVpcEndpointConnectionAttributeRequest(
        region_id=region(), service_id=sid, endpoint_id=eid, bandwidth=1024), "UpdateVpcEndpointConnectionAttribute")
    got = call(c.get_vpc_endpoint_attribute_with_options, pm.GetVpcEndpointAttributeRequest(
        region_id=region(), endpoint_id=eid), "GetVpcEndpointAttribute")
    expect(got.bandwidth == 1024, f"bandwidth {got.to_map()}")

    # Security groups, names, tags (TAG-3).
    sg2 = call(consumer.ecs.create_security_group_with_options, em.CreateSecurityGroupRequest(
        region_id=region(), vpc_id=cvpc, security_group_name="second"), "CreateSecurityGroup").security_group_id
    call(c.attach_security_group_to_vpc_endpoint_with_options, pm.AttachSecurityGroupToVpcEndpointRequest(
        region_id=region(), endpoint_id=eid, security_group_id=sg2), "AttachSecurityGroupToVpcEndpoint")
    groups = call(c.list_vpc_endpoint_security_groups_with_options, pm.ListVpcEndpointSecurityGroupsRequest(
        region_id=region(), endpoint_id=eid), "ListVpcEndpointSecurityGroups")
    expect(sorted(g.security_group_id for g in groups.security_groups) == sorted([csg, sg2]),
           f"groups {groups.to_map()}")
    r.expect("DeleteSecurityGroup of an endpoint", "DependencyViolation", 400,
             lambda: consumer.ecs.delete_security_group_with_options(em.DeleteSecurityGroupRequest(
                 region_id=region(), security_group_id=sg2), runtime()))
    call(c.detach_security_group_from_vpc_endpoint_with_options, pm.DetachSecurityGroupFromVpcEndpointRequest(
        region_id=region(), endpoint_id=eid, security_group_id=sg2), "DetachSecurityGroupFromVpcEndpoint")
    call(c.update_vpc_endpoint_attribute_with_options, pm.UpdateVpcEndpointAttributeRequest(
        region_id=region(), endpoint_id=eid, endpoint_name="web2"), "UpdateVpcEndpointAttribute")
    other = call(c.create_vpc_endpoint_with_options, pm.CreateVpcEndpointRequest(
        region_id=region(), vpc_id=cvpc, service_name=srv.service_name, security_group_id=[csg],
        zone=[pm.CreateVpcEndpointRequestZone(v_switch_id=cvsw["a"], zone_id=zone("a"))],
        tag=[pm.CreateVpcEndpointRequestTag(key="env", value="test")]), "CreateVpcEndpoint").endpoint_id
    call(c.tag_resources_with_options, pm.TagResourcesRequest(
        region_id=region(), resource_type="vpcendpoint", resource_id=[eid],
        tag=[pm.TagResourcesRequestTag(key="team", value="net")]), "TagResources")
    by_tag = call(c.list_vpc_endpoints_with_options, pm.ListVpcEndpointsRequest(
        region_id=region(), tag=[pm.ListVpcEndpointsRequestTag(key="env", value="prod")]), "ListVpcEndpoints")
    expect([(x.endpoint_id, x.endpoint_name) for x in by_tag.endpoints] == [(eid, "web2")],
           f"endpoints by tag {by_tag.to_map()}")
    all_eps = call(c.list_vpc_endpoints_with_options, pm.ListVpcEndpointsRequest(
        region_id=region(), vpc_id=cvpc, max_results=1), "ListVpcEndpoints")
    expect(all_eps.total_count == 2 and len(all_eps.endpoints) == 1 and all_eps.next_token,
           f"first page {all_eps.to_map()}")
    tags = call(c.list_tag_resources_with_options, pm.ListTagResourcesRequest(
        region_id=region(), resource_type="vpcendpoint", resource_id=[eid]), "ListTagResources")
    expect(sorted((t.tag_key, t.tag_value) for t in tags.tag_resources) == [("env", "prod"), ("team", "net")],
           f"tags {tags.to_map()}")
    call(c.untag_resources_with_options, pm.UntagResourcesRequest(
        region_id=region(), resource_type="vpcendpoint", resource_id=[eid], tag_key=["team"]), "UntagResources")

    # Refusals, by code and HTTP status.
    r.expect("CreateVpcEndpoint with a policy", "IllegalParam.PolicyDocument", 400,
             lambda: c.create_vpc_endpoint_with_options(endpoint_request(
                 cvpc, cvsw, csg, sid, policy_document='{"Version":"1","Statement":[]}'), runtime()))
    r.expect("CreateVpcEndpoint on a taken address", "IpConflict", 400,
             lambda: c.create_vpc_endpoint_with_options(endpoint_request(cvpc, cvsw, csg, sid), runtime()))
    r.expect("CreateVpcEndpoint Reverse", "UnsupportedParameter", 400,
             lambda: c.create_vpc_endpoint_with_options(pm.CreateVpcEndpointRequest(
                 region_id=region(), vpc_id=cvpc, service_id=sid, security_group_id=[csg], endpoint_type="Reverse",
                 zone=[pm.CreateVpcEndpointRequestZone(v_switch_id=cvsw["b"], zone_id=zone("b"))]), runtime()))
    r.expect("CreateVpcEndpoint with the provider's group", "InvalidSecurityGroupId.NotFound", 404,
             lambda: c.create_vpc_endpoint_with_options(pm.CreateVpcEndpointRequest(
                 region_id=region(), vpc_id=cvpc, service_id=sid, security_group_id=[psg],
                 zone=[pm.CreateVpcEndpointRequestZone(v_switch_id=cvsw["b"], zone_id=zone("b"))]), runtime()))
    r.expect("CreateVpcEndpoint unknown service", "EndpointServiceNotFound", 404,
             lambda: c.create_vpc_endpoint_with_options(endpoint_request(cvpc, cvsw, csg, "epsrv-nope"), runtime()))
    r.expect("CreateVpcEndpointService of slb", "UnsupportedParameter", 400,
             lambda: p.create_vpc_endpoint_service_with_options(pm.CreateVpcEndpointServiceRequest(
                 region_id=region(), service_resource_type="slb"), runtime()))
    r.expect("CreateVpcEndpointService of another account's NLB", "NlbNotFound", 400,
             lambda: c.create_vpc_endpoint_service_with_options(pm.CreateVpcEndpointServiceRequest(
                 region_id=region(), resource=[pm.CreateVpcEndpointServiceRequestResource(
                     resource_id=lb, resource_type="nlb", zone_id=zone("a"))]), runtime()))
    r.expect("CreateVpcEndpointService paid by the provider", "UnsupportedParameter", 400,
             lambda: p.create_vpc_endpoint_service_with_options(pm.CreateVpcEndpointServiceRequest(
                 region_id=region(), payer="EndpointService"), runtime()))
    r.expect("AddUserToVpcEndpointService twice", "EndpointServiceUserAlreadyExists", 400,
             lambda: p.add_user_to_vpc_endpoint_service_with_options(pm.AddUserToVpcEndpointServiceRequest(
                 region_id=region(), service_id=sid, user_id=consumer_account), runtime()))
    r.expect("DeleteLoadBalancer of a service", "ResourceInUse.loadBalancer", 400,
             lambda: provider.nlb.delete_load_balancer_with_options(nm.DeleteLoadBalancerRequest(
                 load_balancer_id=lb), runtime()))
    r.expect("DeleteVSwitch with an endpoint ENI", "DependencyViolation.VpcEndpoint", 400,
             lambda: consumer.vpc.delete_vswitch_with_options(vm.DeleteVSwitchRequest(
                 region_id=region(), v_switch_id=cvsw["a"]), runtime()))
    r.expect("GetVpcEndpointAttribute of another account", "EndpointNotFound", 404,
             lambda: p.get_vpc_endpoint_attribute_with_options(pm.GetVpcEndpointAttributeRequest(
                 region_id=region(), endpoint_id=eid), runtime()))
    r.expect("CreateVpcEndpoint DryRun", "DryRunOperation", 400,
             lambda: c.create_vpc_endpoint_with_options(pm.CreateVpcEndpointRequest(
                 region_id=region(), vpc_id=cvpc, service_id=sid, security_group_id=[csg], dry_run=True,
                 zone=[pm.CreateVpcEndpointRequestZone(v_switch_id=cvsw["b"], zone_id=zone("b"))]), runtime()))

    # The provider disables the connection; then deletes the service (CONN-4).
    call(p.disable_vpc_endpoint_connection_with_options, pm.DisableVpcEndpointConnectionRequest(
        region_id=region(), service_id=sid, endpoint_id=eid), "DisableVpcEndpointConnection")
    got = call(c.list_vpc_endpoints_with_options, pm.ListVpcEndpointsRequest(
        region_id=region(), connection_status="Disconnected", vpc_id=cvpc), "ListVpcEndpoints")
    expect(sorted(x.endpoint_id for x in got.endpoints) == sorted([eid, other]), f"disconnected {got.to_map()}")
    call(p.delete_vpc_endpoint_service_with_options, pm.DeleteVpcEndpointServiceRequest(
        region_id=region(), service_id=sid), "DeleteVpcEndpointService")
    got = call(c.get_vpc_endpoint_attribute_with_options, pm.GetVpcEndpointAttributeRequest(
        region_id=region(), endpoint_id=eid), "GetVpcEndpointAttribute")
    expect(got.connection_status == "ServiceDeleted", f"after the service {got.to_map()}")

    # Everything goes: endpoints (their tags with them), the load balancer, the networks.
    for e in (eid, other):
        call(c.delete_vpc_endpoint_with_options, pm.DeleteVpcEndpointRequest(region_id=region(), endpoint_id=e),
             "DeleteVpcEndpoint")
    tags = call(c.list_tag_resources_with_options, pm.ListTagResourcesRequest(
        region_id=region(), resource_type="vpcendpoint", tag=[pm.ListTagResourcesRequestTag(key="env")]),
        "ListTagResources")
    expect(tags.tag_resources == [], f"tags left {tags.to_map()}")
    call(provider.nlb.delete_load_balancer_with_options, nm.DeleteLoadBalancerRequest(load_balancer_id=lb),
         "DeleteLoadBalancer")
    for acc, (vpc_id, vsw, sg) in ((provider, (pvpc, pvsw, psg)), (consumer, (cvpc, cvsw, csg)),
                                   (stranger, (svpc, svsw, ssg))):
        for g in [sg] + ([sg2] if acc is consumer else []):
            call(acc.ecs.delete_security_group_with_options, em.DeleteSecurityGroupRequest(
                region_id=region(), security_group_id=g), "DeleteSecurityGroup")
        for v in vsw.values():
            call(acc.vpc.delete_vswitch_with_options, vm.DeleteVSwitchRequest(region_id=region(), v_switch_id=v),
                 "DeleteVSwitch")
        call(acc.vpc.delete_vpc_with_options, vm.DeleteVpcRequest(region_id=region(), vpc_id=vpc_id), "DeleteVpc")
    return {"ok": True, "service": sid, "endpoint": eid, "refusals": r.results}


COMMANDS = {"walkthrough": cmd_walkthrough}


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in COMMANDS:
        print(f"usage: privatelink.py {{{'|'.join(COMMANDS)}}}", file=sys.stderr)
        return 2
    try:
        out = COMMANDS[sys.argv[1]]()
    except Mismatch as exc:
        log(f"mismatch: {exc}")
        return EXIT_MISMATCH
    except Exception as exc:  # noqa: BLE001
        info = sdk_error_info(exc)
        log(f"SDK error: {json.dumps(info, default=str)}")
        return EXIT_SDK_ERROR
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
