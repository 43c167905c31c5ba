#!/usr/bin/env python3
"""The network load balancer of a traffic test (tests/nlb_traffic.rs),
made and changed through the *official* NLB SDK (alibabacloud_nlb20220430,
unmodified); the VPC and the instances are the caller's.

Commands (environment as vpc_lab.py's), each with one JSON argument:
  create  {"vpc", "zones": {zone: vSwitch}, "servers": [{"id", "weight",
          "port"}], "address_type": "Intranet"|"Internet", "port",
          "cross_zone": bool}: CreateServerGroup (TCP, Wrr, a TCP health
          check), AddServersToServerGroup (instances), CreateLoadBalancer
          over the zones, CreateListener (TCP, the port), then
          GetLoadBalancerAttribute. Prints {"load_balancer",
          "server_group", "listener", "addresses": {zone: private},
          "public": {zone: public}}.
  remove  {"server_group", "servers": [{"id", "port"}]}:
          RemoveServersFromServerGroup.

Prints one JSON line; exit status as vpc_lab.py's. Every answer is checked
against the SDK's response model (conformance.py, installed by vpc_lab).
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vpc_lab  # noqa: E402,F401  (first: harness clears the proxy variables, conformance is installed)
from harness import EXIT_MISMATCH, EXIT_SDK_ERROR, Mismatch, expect, log, region  # noqa: E402
from vpc_lab import body_of, make_config, runtime, sdk_error_info  # noqa: E402
from alibabacloud_nlb20220430 import models as nm  # noqa: E402
from alibabacloud_nlb20220430.client import Client as NlbClient  # noqa: E402


def client():
    return NlbClient(make_config())


def call(method, request, action):
    body = body_of(method(request, runtime()), action)
    if getattr(body, "job_id", None) is not None:
        st = body_of(client().get_job_status_with_options(nm.GetJobStatusRequest(job_id=body.job_id), runtime()),
                     "GetJobStatus")
        expect(st.status == "Succeeded", f"{action}: job {body.job_id} is {st.status}")
    return body


def cmd_create(a):
    nlb = client()
    sgp = call(nlb.create_server_group_with_options, nm.CreateServerGroupRequest(
        region_id=region(), vpc_id=a["vpc"], server_group_name="traffic", protocol="TCP", scheduler="Wrr",
        server_group_type="Instance",
        health_check_config=nm.CreateServerGroupRequestHealthCheckConfig(
            health_check_enabled=True, health_check_type="TCP", health_check_interval=1,
            health_check_connect_timeout=1, healthy_threshold=2, unhealthy_threshold=2)),
        "CreateServerGroup").server_group_id
    call(nlb.add_servers_to_server_group_with_options, nm.AddServersToServerGroupRequest(
        region_id=region(), server_group_id=sgp,
        servers=[nm.AddServersToServerGroupRequestServers(server_id=s["id"], server_type="Ecs", port=s["port"],
                                                          weight=s["weight"]) for s in a["servers"]]),
        "AddServersToServerGroup")
    lb = call(nlb.create_load_balancer_with_options, nm.CreateLoadBalancerRequest(
        region_id=region(), vpc_id=a["vpc"], address_type=a["address_type"], load_balancer_type="Network",
        load_balancer_name="traffic",
        zone_mappings=[nm.CreateLoadBalancerRequestZoneMappings(v_switch_id=v, zone_id=z)
                       for z, v in sorted(a["zones"].items())]),
        "CreateLoadBalancer").loadbalancer_id
    lsn = call(nlb.create_listener_with_options, nm.CreateListenerRequest(
        region_id=region(), load_balancer_id=lb, listener_protocol="TCP", listener_port=a["port"],
        server_group_id=sgp), "CreateListener").listener_id
    attr = call(nlb.get_load_balancer_attribute_with_options,
                nm.GetLoadBalancerAttributeRequest(region_id=region(), load_balancer_id=lb),
                "GetLoadBalancerAttribute")
    expect(attr.load_balancer_status == "Active", f"status {attr.load_balancer_status}")
    addresses = {z.zone_id: z.load_balancer_addresses[0].private_ipv_4address for z in attr.zone_mappings}
    public = {z.zone_id: z.load_balancer_addresses[0].public_ipv_4address for z in attr.zone_mappings
              if z.load_balancer_addresses[0].public_ipv_4address}
    expect(len(addresses) == len(a["zones"]), f"zones {attr.to_map()}")
    return {"load_balancer": lb, "server_group": sgp, "listener": lsn, "addresses": addresses, "public": public}


def cmd_remove(a):
    nlb = client()
    call(nlb.remove_servers_from_server_group_with_options, nm.RemoveServersFromServerGroupRequest(
        region_id=region(), server_group_id=a["server_group"],
        servers=[nm.RemoveServersFromServerGroupRequestServers(server_id=s["id"], server_type="Ecs", port=s["port"])
                 for s in a["servers"]]),
        "RemoveServersFromServerGroup")
    listed = call(nlb.list_server_group_servers_with_options, nm.ListServerGroupServersRequest(
        region_id=region(), server_group_id=a["server_group"]), "ListServerGroupServers")
    left = {s.server_id for s in listed.servers}
    expect(not left & {s["id"] for s in a["servers"]}, f"still listed: {left}")
    return {"ok": True, "servers": sorted(left)}


COMMANDS = {"create": cmd_create, "remove": cmd_remove}


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in COMMANDS:
        print(f"usage: nlb_lab.py {{{'|'.join(COMMANDS)}}} JSON", file=sys.stderr)
        return 2
    try:
        out = COMMANDS[sys.argv[1]](json.loads(sys.argv[2]))
    except Mismatch as exc:
        log(f"mismatch: {exc}")
        return EXIT_MISMATCH
    except Exception as exc:  # noqa: BLE001
        log(f"SDK error: {json.dumps(sdk_error_info(exc), default=str)}")
        return EXIT_SDK_ERROR
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
