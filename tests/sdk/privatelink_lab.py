#!/usr/bin/env python3
"""The PrivateLink side of the walkthrough test (tests/privatelink_walkthrough.rs),
made and changed through the *official* PrivateLink SDK
(alibabacloud_privatelink20200415, unmodified); the VPCs, instances,
security groups and the load balancer are the caller's. The account is the
one of the keys in the environment (as vpc_lab.py's), so the provider's and
the consumer's commands run with their own keys.

Commands, each with one JSON argument:
  service     {"load_balancer", "zones": [zone], "auto_accept": bool,
              "users": [account id]}: CreateVpcEndpointService (the load
              balancer in each zone), AddUserToVpcEndpointService per user,
              then GetVpcEndpointServiceAttribute. Prints {"service_id",
              "service_name", "service_domain", "status"}.
  visible     {}: ListVpcEndpointServicesByEndUser. Prints {"services":
              [service name]}.
  endpoint    {"vpc", "service_name", "security_groups": [id], "zones":
              {zone: vSwitch}, "name", "tags": {key: value}}:
              CreateVpcEndpoint, then GetVpcEndpointAttribute and
              ListVpcEndpointZones. Prints {"endpoint_id", "domain",
              "connection_status", "zones": {zone: {"ip", "domain",
              "status"}}}.
              Optional "policy": its PolicyDocument (POL-4, the cloud's
              services only).
  policy      {"endpoint_id", "policy"}: UpdateVpcEndpointAttribute with
              that PolicyDocument, then GetVpcEndpointAttribute. Prints
              {"policy"}: the document the endpoint shows.
  refused     the same argument as `endpoint`: CreateVpcEndpoint must be
              refused. Prints {"code", "status"}.
  connection  {"service_id", "endpoint_id", "enable": bool}:
              Enable/DisableVpcEndpointConnection, then
              ListVpcEndpointConnections. Prints {"status", "zones":
              {zone: status}}.
  attribute   {"endpoint_id"}: GetVpcEndpointAttribute. Prints
              {"connection_status", "endpoint_status"}.
  tagged      {"key", "value"}: ListVpcEndpoints with that tag. Prints
              {"endpoints": [id]}.
  zone        {"name", "vpcs": [id], "records": [[rr, type, value]]}: the
              PrivateZone SDK (alibabacloud_pvtz20180101): AddZone,
              BindZoneVpc, AddZoneRecord each (DNS-2: a CNAME of a custom
              name to an endpoint's domain). Prints {"zone_id"}.

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
from alibabacloud_privatelink20200415 import models as pm  # noqa: E402
from alibabacloud_privatelink20200415.client import Client as PrivateLinkClient  # noqa: E402
from alibabacloud_pvtz20180101 import models as zm  # noqa: E402
from alibabacloud_pvtz20180101.client import Client as PvtzClient  # noqa: E402


def client():
    return PrivateLinkClient(make_config())


def cmd_service(a):
    pl = client()
    created = body_of(pl.create_vpc_endpoint_service_with_options(pm.CreateVpcEndpointServiceRequest(
        region_id=region(), auto_accept_enabled=a["auto_accept"], service_resource_type="nlb",
        service_description="walkthrough", zone_affinity_enabled=True,
        resource=[pm.CreateVpcEndpointServiceRequestResource(resource_id=a["load_balancer"], resource_type="nlb",
                                                            zone_id=z) for z in a["zones"]]),
        runtime()), "CreateVpcEndpointService")
    for user in a["users"]:
        body_of(pl.add_user_to_vpc_endpoint_service_with_options(pm.AddUserToVpcEndpointServiceRequest(
            region_id=region(), service_id=created.service_id, user_id=int(user)), runtime()),
            "AddUserToVpcEndpointService")
    attr = body_of(pl.get_vpc_endpoint_service_attribute_with_options(pm.GetVpcEndpointServiceAttributeRequest(
        region_id=region(), service_id=created.service_id), runtime()), "GetVpcEndpointServiceAttribute")
    expect(attr.service_status == "Active", f"service status {attr.service_status}")
    expect(sorted(attr.zones or []) == sorted(a["zones"]), f"service zones {attr.zones}")
    return {"service_id": created.service_id, "service_name": attr.service_name,
            "service_domain": attr.service_domain, "status": attr.service_status}


def cmd_visible(_a):
    listed = body_of(client().list_vpc_endpoint_services_by_end_user_with_options(
        pm.ListVpcEndpointServicesByEndUserRequest(region_id=region()), runtime()),
        "ListVpcEndpointServicesByEndUser")
    return {"services": sorted(s.service_name for s in listed.services or [])}


def endpoint_request(a):
    return pm.CreateVpcEndpointRequest(
        region_id=region(), vpc_id=a["vpc"], service_name=a["service_name"], endpoint_name=a["name"],
        endpoint_type="Interface", security_group_id=a["security_groups"],
        zone=[pm.CreateVpcEndpointRequestZone(zone_id=z, v_switch_id=v) for z, v in sorted(a["zones"].items())],
        tag=[pm.CreateVpcEndpointRequestTag(key=k, value=v) for k, v in sorted(a.get("tags", {}).items())],
        policy_document=a.get("policy"))


def cmd_endpoint(a):
    pl = client()
    created = body_of(pl.create_vpc_endpoint_with_options(endpoint_request(a), runtime()), "CreateVpcEndpoint")
    attr = body_of(pl.get_vpc_endpoint_attribute_with_options(pm.GetVpcEndpointAttributeRequest(
        region_id=region(), endpoint_id=created.endpoint_id), runtime()), "GetVpcEndpointAttribute")
    zones = body_of(pl.list_vpc_endpoint_zones_with_options(pm.ListVpcEndpointZonesRequest(
        region_id=region(), endpoint_id=created.endpoint_id), runtime()), "ListVpcEndpointZones")
    out = {z.zone_id: {"ip": z.eni_ip, "domain": z.zone_domain, "status": z.zone_status} for z in zones.zones}
    expect(sorted(out) == sorted(a["zones"]), f"endpoint zones {out}")
    return {"endpoint_id": created.endpoint_id, "domain": attr.endpoint_domain,
            "connection_status": attr.connection_status, "zones": out}


def cmd_refused(a):
    try:
        created = client().create_vpc_endpoint_with_options(endpoint_request(a), runtime())
    except Exception as exc:  # noqa: BLE001
        info = sdk_error_info(exc)
        expect(info["code"] is not None, f"no error code: {info}")
        return {"code": info["code"], "status": info["status"]}
    raise Mismatch(f"CreateVpcEndpoint was not refused: {created.body}")


def cmd_connection(a):
    pl = client()
    if a["enable"]:
        body_of(pl.enable_vpc_endpoint_connection_with_options(pm.EnableVpcEndpointConnectionRequest(
            region_id=region(), service_id=a["service_id"], endpoint_id=a["endpoint_id"]), runtime()),
            "EnableVpcEndpointConnection")
    else:
        body_of(pl.disable_vpc_endpoint_connection_with_options(pm.DisableVpcEndpointConnectionRequest(
            region_id=region(), service_id=a["service_id"], endpoint_id=a["endpoint_id"]), runtime()),
            "DisableVpcEndpointConnection")
    listed = body_of(pl.list_vpc_endpoint_connections_with_options(pm.ListVpcEndpointConnectionsRequest(
        region_id=region(), service_id=a["service_id"], endpoint_id=a["endpoint_id"]), runtime()),
        "ListVpcEndpointConnections")
    expect(len(listed.connections) == 1, f"connections {len(listed.connections)}")
    c = listed.connections[0]
    return {"status": c.connection_status, "zones": {z.zone_id: z.zone_status for z in c.zones or []}}


def cmd_attribute(a):
    attr = body_of(client().get_vpc_endpoint_attribute_with_options(pm.GetVpcEndpointAttributeRequest(
        region_id=region(), endpoint_id=a["endpoint_id"]), runtime()), "GetVpcEndpointAttribute")
    return {"connection_status": attr.connection_status, "endpoint_status": attr.endpoint_status}


def cmd_policy(a):
    pl = client()
    body_of(pl.update_vpc_endpoint_attribute_with_options(pm.UpdateVpcEndpointAttributeRequest(
        region_id=region(), endpoint_id=a["endpoint_id"], policy_document=a["policy"]), runtime()),
        "UpdateVpcEndpointAttribute")
    attr = body_of(pl.get_vpc_endpoint_attribute_with_options(pm.GetVpcEndpointAttributeRequest(
        region_id=region(), endpoint_id=a["endpoint_id"]), runtime()), "GetVpcEndpointAttribute")
    return {"policy": attr.policy_document}


def cmd_tagged(a):
    listed = body_of(client().list_vpc_endpoints_with_options(pm.ListVpcEndpointsRequest(
        region_id=region(), tag=[pm.ListVpcEndpointsRequestTag(key=a["key"], value=a["value"])]), runtime()),
        "ListVpcEndpoints")
    return {"endpoints": sorted(e.endpoint_id for e in listed.endpoints or [])}


def cmd_zone(a):
    p = PvtzClient(make_config())
    zone = body_of(p.add_zone_with_options(zm.AddZoneRequest(zone_name=a["name"]), runtime()), "AddZone").zone_id
    body_of(p.bind_zone_vpc_with_options(zm.BindZoneVpcRequest(
        zone_id=zone, vpcs=[zm.BindZoneVpcRequestVpcs(region_id=region(), vpc_id=v) for v in a["vpcs"]]),
        runtime()), "BindZoneVpc")
    for rr, kind, value in a["records"]:
        body_of(p.add_zone_record_with_options(zm.AddZoneRecordRequest(
            zone_id=zone, rr=rr, type=kind, value=value), runtime()), "AddZoneRecord")
    return {"zone_id": zone}


COMMANDS = {
    "zone": cmd_zone,
    "service": cmd_service,
    "visible": cmd_visible,
    "endpoint": cmd_endpoint,
    "refused": cmd_refused,
    "connection": cmd_connection,
    "attribute": cmd_attribute,
    "tagged": cmd_tagged,
    "policy": cmd_policy,
}


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in COMMANDS:
        print(f"usage: privatelink_lab.py {{{'|'.join(COMMANDS)}}} JSON", file=sys.stderr)
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
