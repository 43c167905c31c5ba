#!/usr/bin/env python3
"""Network load balancers through the *official* NLB SDK
(alibabacloud_nlb20220430, unmodified), against the vpc-router daemon; the
VPC and instances through the VPC and ECS SDKs.

Commands (environment as vpc_lab.py's):
  nlb   A VPC with vSwitches in two zones and an instance in each;
        CreateLoadBalancer (internal, then internet-facing) in both zones,
        GetLoadBalancerAttribute, ListLoadBalancers (filters, paging);
        CreateServerGroup with a health check configuration,
        AddServersToServerGroup (an instance and an address of the VPC),
        UpdateServerGroupServersAttribute, ListServerGroups,
        ListServerGroupServers, RemoveServersFromServerGroup;
        CreateListener, StopListener, StartListener, GetListenerAttribute,
        ListListeners; LoadBalancerJoin/LeaveSecurityGroup; TagResources,
        ListTagResources, UntagResources; GetJobStatus and ListAsynJobs of
        every job; UpdateLoadBalancerZones; the deletes; every refusal by
        Code and HTTP status.

Prints one JSON line {"ok": true, ...}; exit status as vpc_lab.py's.
Every answer is checked against the SDK's response model (conformance.py,
installed by importing vpc_lab).
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vpc_lab  # noqa: E402  (first: harness clears the proxy variables, conformance is installed)
from harness import EXIT_MISMATCH, EXIT_SDK_ERROR, Mismatch, expect, log, region  # noqa: E402
from vpc_lab import body_of, ecs_client, make_config, runtime, sdk_error_info, vpc_client  # noqa: E402
from alibabacloud_ecs20140526 import models as em  # noqa: E402
from alibabacloud_nlb20220430 import models as nm  # noqa: E402
from alibabacloud_nlb20220430.client import Client as NlbClient  # noqa: E402
from alibabacloud_vpc20160428 import models as vm  # noqa: E402


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


class Jobs:
    """Every JobId answered, checked at the end with GetJobStatus and ListAsynJobs."""

    def __init__(self, nlb):
        self.nlb, self.ids = nlb, []

    def add(self, body, action):
        expect(bool(body.job_id), f"{action}: no JobId in {body.to_map()}")
        self.ids.append(body.job_id)
        # The change is made before the answer: the job has succeeded.
        st = call(self.nlb.get_job_status_with_options, nm.GetJobStatusRequest(job_id=body.job_id),
                  "GetJobStatus")
        expect(st.status == "Succeeded", f"{action}: job {body.job_id} is {st.status}")
        return body


def lab(vpc, ecs):
    v = call(vpc.create_vpc_with_options,
             vm.CreateVpcRequest(region_id=region(), cidr_block="10.20.0.0/16", vpc_name="nlb"), "CreateVpc")
    vsw = {}
    for zone, cidr in (("a", "10.20.1.0/24"), ("b", "10.20.2.0/24")):
        s = call(vpc.create_vswitch_with_options,
                 vm.CreateVSwitchRequest(region_id=region(), vpc_id=v.vpc_id, cidr_block=cidr,
                                         zone_id=f"{region()}-{zone}"), "CreateVSwitch")
        vsw[zone] = s.v_switch_id
    inst = {}
    for zone, ip in (("a", "10.20.1.10"), ("b", "10.20.2.10")):
        r = call(ecs.run_instances_with_options,
                 em.RunInstancesRequest(region_id=region(), v_switch_id=vsw[zone], private_ip_address=ip,
                                        image_id="img", instance_type="t", instance_name=f"web-{zone}"),
                 "RunInstances")
        inst[zone] = r.instance_id_sets.instance_id_set[0]
    sg = call(ecs.create_security_group_with_options,
              em.CreateSecurityGroupRequest(region_id=region(), vpc_id=v.vpc_id, security_group_name="nlb"),
              "CreateSecurityGroup").security_group_id
    return v.vpc_id, vsw, inst, sg


def zones(vsw, a_ip=None):
    return [nm.CreateLoadBalancerRequestZoneMappings(v_switch_id=vsw["a"], zone_id=f"{region()}-a",
                                                     private_ipv_4address=a_ip),
            nm.CreateLoadBalancerRequestZoneMappings(v_switch_id=vsw["b"], zone_id=f"{region()}-b")]


def cmd_nlb():
    vpc, ecs, nlb, r = vpc_client(), ecs_client(), NlbClient(make_config()), Refusals()
    jobs = Jobs(nlb)
    vpc_id, vsw, inst, sg = lab(vpc, ecs)

    # Load balancers: internal with a given address in zone a, internet-facing with EIPs.
    lb = call(nlb.create_load_balancer_with_options, nm.CreateLoadBalancerRequest(
        region_id=region(), address_type="Intranet", vpc_id=vpc_id, load_balancer_name="web",
        load_balancer_type="Network", zone_mappings=zones(vsw, "10.20.1.100"),
        deletion_protection_config=nm.CreateLoadBalancerRequestDeletionProtectionConfig(enabled=True,
                                                                                        reason="prod"),
        tag=[nm.CreateLoadBalancerRequestTag(key="env", value="lab")]), "CreateLoadBalancer").loadbalancer_id
    expect(lb.startswith("nlb-"), f"LoadbalancerId {lb}")
    a = call(nlb.get_load_balancer_attribute_with_options,
             nm.GetLoadBalancerAttributeRequest(load_balancer_id=lb), "GetLoadBalancerAttribute")
    expect((a.load_balancer_status, a.address_type, a.vpc_id, a.cross_zone_enabled)
           == ("Active", "Intranet", vpc_id, True), f"attributes {a.to_map()}")
    addrs = {z.zone_id: z.load_balancer_addresses[0].private_ipv_4address for z in a.zone_mappings}
    expect(addrs[f"{region()}-a"] == "10.20.1.100", f"zone a address {addrs}")
    expect(addrs[f"{region()}-b"].startswith("10.20.2.") and addrs[f"{region()}-b"] != "10.20.2.10",
           f"zone b address {addrs} (allocated, not the instance's)")
    expect(a.deletion_protection_config.enabled is True, f"deletion protection {a.to_map()}")
    expect([(t.tag_key, t.tag_value) for t in a.tags] == [("env", "lab")], f"tags {a.to_map()}")
    pub = call(nlb.create_load_balancer_with_options, nm.CreateLoadBalancerRequest(
        region_id=region(), address_type="Internet", vpc_id=vpc_id, zone_mappings=zones(vsw)),
        "CreateLoadBalancer").loadbalancer_id
    p = call(nlb.get_load_balancer_attribute_with_options,
             nm.GetLoadBalancerAttributeRequest(load_balancer_id=pub), "GetLoadBalancerAttribute")
    eips = [z.load_balancer_addresses[0] for z in p.zone_mappings]
    expect(all(e.public_ipv_4address and e.allocation_id for e in eips), f"EIPs {p.to_map()}")
    listed = call(nlb.list_load_balancers_with_options, nm.ListLoadBalancersRequest(
        vpc_ids=[vpc_id], max_results=1), "ListLoadBalancers")
    expect(listed.total_count == 2 and len(listed.load_balancers) == 1 and listed.next_token,
           f"first page {listed.to_map()}")
    rest = call(nlb.list_load_balancers_with_options, nm.ListLoadBalancersRequest(
        vpc_ids=[vpc_id], max_results=1, next_token=listed.next_token), "ListLoadBalancers")
    expect(len(rest.load_balancers) == 1 and not rest.next_token
           and rest.load_balancers[0].load_balancer_id != listed.load_balancers[0].load_balancer_id,
           f"second page {rest.to_map()}")
    tagged = call(nlb.list_load_balancers_with_options, nm.ListLoadBalancersRequest(
        tag=[nm.ListLoadBalancersRequestTag(key="env", value="lab")], address_type="Intranet"),
        "ListLoadBalancers")
    expect([x.load_balancer_id for x in tagged.load_balancers] == [lb], f"by tag {tagged.to_map()}")

    # A server group: an instance and an address of the VPC.
    g = call(nlb.create_server_group_with_options, nm.CreateServerGroupRequest(
        region_id=region(), server_group_name="web", vpc_id=vpc_id, protocol="TCP", scheduler="Wrr",
        health_check_config=nm.CreateServerGroupRequestHealthCheckConfig(
            health_check_enabled=True, health_check_type="HTTP", health_check_url="/health",
            health_check_interval=2, healthy_threshold=2, unhealthy_threshold=3,
            health_check_http_code=["http_2xx", "http_3xx"])), "CreateServerGroup")
    jobs.add(g, "CreateServerGroup")
    sgp = g.server_group_id
    jobs.add(call(nlb.add_servers_to_server_group_with_options, nm.AddServersToServerGroupRequest(
        server_group_id=sgp, servers=[
            nm.AddServersToServerGroupRequestServers(server_id=inst["a"], server_type="Ecs", port=80),
            nm.AddServersToServerGroupRequestServers(server_id=inst["b"], server_type="Ecs", port=80,
                                                     weight=50, description="zone b")]),
        "AddServersToServerGroup"), "AddServersToServerGroup")
    servers = call(nlb.list_server_group_servers_with_options,
                   nm.ListServerGroupServersRequest(server_group_id=sgp), "ListServerGroupServers")
    got = sorted((s.server_id, s.server_ip, s.port, s.weight, s.zone_id) for s in servers.servers)
    want = sorted([(inst["a"], "10.20.1.10", 80, 100, f"{region()}-a"),
                   (inst["b"], "10.20.2.10", 80, 50, f"{region()}-b")])
    expect(got == want, f"servers {got} != {want}")
    # Status is the server's health (docs/nlb.md): not checked yet, as no
    # listener uses the group.
    expect(all(s.status in ("Initial", "Available", "Unavailable") for s in servers.servers),
           f"server statuses {[s.status for s in servers.servers]}")
    jobs.add(call(nlb.update_server_group_servers_attribute_with_options,
                  nm.UpdateServerGroupServersAttributeRequest(server_group_id=sgp, servers=[
                      nm.UpdateServerGroupServersAttributeRequestServers(
                          server_id=inst["a"], server_type="Ecs", port=80, weight=30)]),
                  "UpdateServerGroupServersAttribute"), "UpdateServerGroupServersAttribute")
    groups = call(nlb.list_server_groups_with_options, nm.ListServerGroupsRequest(
        server_group_ids=[sgp]), "ListServerGroups")
    sg0 = groups.server_groups[0]
    expect((sg0.server_count, sg0.protocol, sg0.scheduler, sg0.health_check.health_check_type,
            sg0.health_check.health_check_interval, sg0.health_check.unhealthy_threshold,
            sg0.preserve_client_ip_enabled)
           == (2, "TCP", "Wrr", "HTTP", 2, 3, True), f"group {sg0.to_map()}")

    # A listener, stopped and started.
    lsn = jobs.add(call(nlb.create_listener_with_options, nm.CreateListenerRequest(
        load_balancer_id=lb, listener_protocol="TCP", listener_port=80, server_group_id=sgp,
        listener_description="web"), "CreateListener"), "CreateListener").listener_id
    jobs.add(call(nlb.stop_listener_with_options, nm.StopListenerRequest(listener_id=lsn), "StopListener"),
             "StopListener")
    st = call(nlb.get_listener_attribute_with_options, nm.GetListenerAttributeRequest(listener_id=lsn),
              "GetListenerAttribute")
    expect((st.listener_status, st.listener_port, st.listener_protocol, st.server_group_id)
           == ("Stopped", 80, "TCP", sgp), f"listener {st.to_map()}")
    jobs.add(call(nlb.start_listener_with_options, nm.StartListenerRequest(listener_id=lsn), "StartListener"),
             "StartListener")
    ls = call(nlb.list_listeners_with_options, nm.ListListenersRequest(load_balancer_ids=[lb]), "ListListeners")
    expect([(x.listener_id, x.listener_status) for x in ls.listeners] == [(lsn, "Running")],
           f"listeners {ls.to_map()}")
    groups = call(nlb.list_server_groups_with_options, nm.ListServerGroupsRequest(server_group_ids=[sgp]),
                  "ListServerGroups")
    expect(groups.server_groups[0].related_load_balancer_ids == [lb], f"related {groups.to_map()}")

    # Security groups and tags.
    jobs.add(call(nlb.load_balancer_join_security_group_with_options, nm.LoadBalancerJoinSecurityGroupRequest(
        load_balancer_id=lb, security_group_ids=[sg]), "LoadBalancerJoinSecurityGroup"),
        "LoadBalancerJoinSecurityGroup")
    a = call(nlb.get_load_balancer_attribute_with_options,
             nm.GetLoadBalancerAttributeRequest(load_balancer_id=lb), "GetLoadBalancerAttribute")
    expect(a.security_group_ids == [sg], f"security groups {a.to_map()}")
    call(nlb.tag_resources_with_options, nm.TagResourcesRequest(
        resource_type="listener", resource_id=[lsn], tag=[nm.TagResourcesRequestTag(key="tier", value="web")]),
        "TagResources")
    t = call(nlb.list_tag_resources_with_options, nm.ListTagResourcesRequest(
        resource_type="listener", resource_id=[lsn]), "ListTagResources")
    expect([(x.resource_id, x.tag_key, x.tag_value) for x in t.tag_resources] == [(lsn, "tier", "web")],
           f"tags {t.to_map()}")
    call(nlb.untag_resources_with_options, nm.UntagResourcesRequest(
        resource_type="listener", resource_id=[lsn], tag_key=["tier"]), "UntagResources")

    # Refusals, by the NLB API's codes.
    r.expect("CreateLoadBalancer in one zone", "IllegalParam.ZoneMappings", 400,
             lambda: nlb.create_load_balancer_with_options(nm.CreateLoadBalancerRequest(
                 address_type="Intranet", vpc_id=vpc_id, zone_mappings=zones(vsw)[:1]), runtime()))
    r.expect("CreateLoadBalancer in an unknown VPC", "ResourceNotFound.vpc", 404,
             lambda: nlb.create_load_balancer_with_options(nm.CreateLoadBalancerRequest(
                 address_type="Intranet", vpc_id="vpc-nope", zone_mappings=zones(vsw)), runtime()))
    r.expect("CreateLoadBalancer DualStack", "UnsupportedParameter", 400,
             lambda: nlb.create_load_balancer_with_options(nm.CreateLoadBalancerRequest(
                 address_type="Intranet", vpc_id=vpc_id, zone_mappings=zones(vsw),
                 address_ip_version="DualStack"), runtime()))
    r.expect("CreateLoadBalancer on a taken address", "Conflict.PrivateIPv4Address", 400,
             lambda: nlb.create_load_balancer_with_options(nm.CreateLoadBalancerRequest(
                 address_type="Intranet", vpc_id=vpc_id, zone_mappings=zones(vsw, "10.20.1.10")), runtime()))
    r.expect("CreateListener on a port in use", "ResourceAlreadyExist.listener", 400,
             lambda: nlb.create_listener_with_options(nm.CreateListenerRequest(
                 load_balancer_id=lb, listener_protocol="TCP", listener_port=80, server_group_id=sgp), runtime()))
    r.expect("CreateListener TCPSSL", "UnsupportedParameter", 400,
             lambda: nlb.create_listener_with_options(nm.CreateListenerRequest(
                 load_balancer_id=lb, listener_protocol="TCPSSL", listener_port=443, server_group_id=sgp,
                 certificate_ids=["cert-1"]), runtime()))
    r.expect("CreateListener UDP to a TCP group", "Mismatch.Protocol", 400,
             lambda: nlb.create_listener_with_options(nm.CreateListenerRequest(
                 load_balancer_id=lb, listener_protocol="UDP", listener_port=53, server_group_id=sgp), runtime()))
    r.expect("CreateServerGroup HTTP", "IllegalParam.Protocol", 400,
             lambda: nlb.create_server_group_with_options(nm.CreateServerGroupRequest(
                 server_group_name="other", vpc_id=vpc_id, protocol="HTTP"), runtime()))
    r.expect("CreateServerGroup AnyPortEnabled", "UnsupportedParameter", 400,
             lambda: nlb.create_server_group_with_options(nm.CreateServerGroupRequest(
                 server_group_name="other", vpc_id=vpc_id, any_port_enabled=True), runtime()))
    r.expect("AddServersToServerGroup weight 101", "IllegalParam.Servers.1.Weight", 400,
             lambda: nlb.add_servers_to_server_group_with_options(nm.AddServersToServerGroupRequest(
                 server_group_id=sgp, servers=[nm.AddServersToServerGroupRequestServers(
                     server_id=inst["a"], server_type="Ecs", port=81, weight=101)]), runtime()))
    r.expect("AddServersToServerGroup twice", "ResourceAlreadyAssociated.backendServer", 400,
             lambda: nlb.add_servers_to_server_group_with_options(nm.AddServersToServerGroupRequest(
                 server_group_id=sgp, servers=[nm.AddServersToServerGroupRequestServers(
                     server_id=inst["a"], server_type="Ecs", port=80)]), runtime()))
    r.expect("DeleteServerGroup in use", "ResourceInUse.serverGroup", 400,
             lambda: nlb.delete_server_group_with_options(nm.DeleteServerGroupRequest(server_group_id=sgp),
                                                          runtime()))
    r.expect("StartListener running", "IncorrectStatus.listener", 400,
             lambda: nlb.start_listener_with_options(nm.StartListenerRequest(listener_id=lsn), runtime()))
    r.expect("DeleteLoadBalancer protected", "OperationDenied.DeletionProtectionEnabled", 400,
             lambda: nlb.delete_load_balancer_with_options(nm.DeleteLoadBalancerRequest(load_balancer_id=lb),
                                                           runtime()))
    r.expect("GetLoadBalancerAttribute unknown", "ResourceNotFound.loadBalancer", 404,
             lambda: nlb.get_load_balancer_attribute_with_options(
                 nm.GetLoadBalancerAttributeRequest(load_balancer_id="nlb-nope"), runtime()))
    r.expect("CreateLoadBalancer DryRun", "DryRunOperation", 400,
             lambda: nlb.create_load_balancer_with_options(nm.CreateLoadBalancerRequest(
                 address_type="Intranet", vpc_id=vpc_id, zone_mappings=zones(vsw), dry_run=True), runtime()))

    # Zones, removal, deletes; every job listed as succeeded.
    jobs.add(call(nlb.update_load_balancer_zones_with_options, nm.UpdateLoadBalancerZonesRequest(
        load_balancer_id=pub, zone_mappings=[nm.UpdateLoadBalancerZonesRequestZoneMappings(
            v_switch_id=vsw["a"], zone_id=f"{region()}-a"), nm.UpdateLoadBalancerZonesRequestZoneMappings(
            v_switch_id=vsw["b"], zone_id=f"{region()}-b", private_ipv_4address="10.20.2.200")]),
        "UpdateLoadBalancerZones"), "UpdateLoadBalancerZones")
    jobs.add(call(nlb.remove_servers_from_server_group_with_options, nm.RemoveServersFromServerGroupRequest(
        server_group_id=sgp, servers=[nm.RemoveServersFromServerGroupRequestServers(
            server_id=inst["b"], server_type="Ecs", port=80)]), "RemoveServersFromServerGroup"),
        "RemoveServersFromServerGroup")
    jobs.add(call(nlb.load_balancer_leave_security_group_with_options, nm.LoadBalancerLeaveSecurityGroupRequest(
        load_balancer_id=lb, security_group_ids=[sg]), "LoadBalancerLeaveSecurityGroup"),
        "LoadBalancerLeaveSecurityGroup")
    jobs.add(call(nlb.delete_listener_with_options, nm.DeleteListenerRequest(listener_id=lsn), "DeleteListener"),
             "DeleteListener")
    jobs.add(call(nlb.delete_server_group_with_options, nm.DeleteServerGroupRequest(server_group_id=sgp),
                  "DeleteServerGroup"), "DeleteServerGroup")
    jobs.add(call(nlb.delete_load_balancer_with_options, nm.DeleteLoadBalancerRequest(load_balancer_id=pub),
                  "DeleteLoadBalancer"), "DeleteLoadBalancer")
    listed = call(nlb.list_asyn_jobs_with_options, nm.ListAsynJobsRequest(job_ids=jobs.ids), "ListAsynJobs")
    expect(sorted(j.id for j in listed.jobs) == sorted(jobs.ids)
           and all(j.status == "Succeeded" for j in listed.jobs), f"jobs {listed.to_map()}")
    return {"ok": True, "load_balancer": lb, "jobs": len(jobs.ids), "refusals": r.results}


COMMANDS = {"nlb": cmd_nlb}


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in COMMANDS:
        print(f"usage: nlb.py {{{'|'.join(COMMANDS)}}}", file=sys.stderr)
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
