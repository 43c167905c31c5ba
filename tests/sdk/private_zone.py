#!/usr/bin/env python3
"""PrivateZone through the *official* PrivateZone SDK
(alibabacloud_pvtz20180101, unmodified), against the vpc-router daemon; the
VPCs and instances through the VPC and ECS SDKs. tests/dns.rs runs it and
asks the VPC resolvers from inside the instances between the steps.

Commands (environment as vpc_lab.py's):
  lab          Two VPCs with the same CIDR (10.30.0.0/16), a vSwitch and an
               instance each; AddZone corp.example, BindZoneVpc to the first
               VPC only; AddZoneRecord of every served type (A, AAAA, CNAME,
               TXT, MX, PTR, SRV), UpdateZoneRecord, DescribeZones,
               DescribeZoneInfo, DescribeZoneRecords; every refusal by Code
               and HTTP status. Prints the instances, the zone and the ids of
               the A record.
  disable ID   SetZoneRecordStatus DISABLE of record ID.
  enable ID    SetZoneRecordStatus ENABLE of record ID.
  delete ZONE  BindZoneVpc without VPCs, DeleteZoneRecord of each record,
               DeleteZone.

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
from alibabacloud_pvtz20180101 import models as pm  # noqa: E402
from alibabacloud_pvtz20180101.client import Client as PvtzClient  # noqa: E402
from alibabacloud_vpc20160428 import models as vm  # noqa: E402


def call(method, request, action):
    return body_of(method(request, runtime()), action)


class Refusals:
    """Calls that must fail, each with its Code and HTTP status."""

    def __init__(self):
        self.results = []

    def expect(self, label, code, status, fn):
        try:
            fn()
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


def pvtz():
    return PvtzClient(make_config())


def vpc_with_instance(vpc, ecs, name):
    v = call(vpc.create_vpc_with_options,
             vm.CreateVpcRequest(region_id=region(), cidr_block="10.30.0.0/16", vpc_name=name), "CreateVpc")
    s = call(vpc.create_vswitch_with_options,
             vm.CreateVSwitchRequest(region_id=region(), vpc_id=v.vpc_id, cidr_block="10.30.1.0/24",
                                     zone_id=f"{region()}-a"), "CreateVSwitch")
    r = call(ecs.run_instances_with_options,
             em.RunInstancesRequest(region_id=region(), v_switch_id=s.v_switch_id, private_ip_address="10.30.1.10",
                                    image_id="img", instance_type="t", instance_name=name), "RunInstances")
    return v.vpc_id, r.instance_id_sets.instance_id_set[0]


def add(p, zone, rr, kind, value, **kw):
    b = call(p.add_zone_record_with_options,
             pm.AddZoneRecordRequest(zone_id=zone, rr=rr, type=kind, value=value, **kw), "AddZoneRecord")
    expect(b.success is True and b.record_id, f"AddZoneRecord {rr} {kind}: {b.to_map()}")
    return b.record_id


def cmd_lab():
    vpc, ecs, p, r = vpc_client(), ecs_client(), pvtz(), Refusals()
    vpc_a, inst_a = vpc_with_instance(vpc, ecs, "pz-a")
    vpc_b, inst_b = vpc_with_instance(vpc, ecs, "pz-b")

    z = call(p.add_zone_with_options, pm.AddZoneRequest(zone_name="Corp.Example", proxy_pattern="ZONE"), "AddZone")
    expect(z.success is True and z.zone_name == "corp.example", f"AddZone {z.to_map()}")
    zone = z.zone_id
    call(p.bind_zone_vpc_with_options, pm.BindZoneVpcRequest(
        zone_id=zone, vpcs=[pm.BindZoneVpcRequestVpcs(region_id=region(), vpc_id=vpc_a)]), "BindZoneVpc")

    ids = {
        "db": add(p, zone, "db", "A", "10.30.1.50", ttl=30),
        "www": add(p, zone, "www", "CNAME", "db.corp.example"),
        "oss": add(p, zone, "oss", "CNAME", f"oss-{region()}-internal.aliyuncs.com"),
        "v6": add(p, zone, "v6", "AAAA", "fd00::50"),
        "txt": add(p, zone, "@", "TXT", "v=lab1"),
        "mx": add(p, zone, "@", "MX", "mail.corp.example", priority=10),
        "srv": add(p, zone, "_sip._tcp", "SRV", "10 60 5060 sip.corp.example"),
        "ptr": add(p, zone, "ptr", "PTR", "db.corp.example"),
    }
    # UpdateZoneRecord: the A record moves, then back.
    up = call(p.update_zone_record_with_options, pm.UpdateZoneRecordRequest(
        record_id=ids["db"], rr="db", type="A", value="10.30.1.51", ttl=30), "UpdateZoneRecord")
    expect(up.record_id == ids["db"], f"UpdateZoneRecord {up.to_map()}")
    call(p.update_zone_record_with_options, pm.UpdateZoneRecordRequest(
        record_id=ids["db"], rr="db", type="A", value="10.30.1.50", ttl=30), "UpdateZoneRecord")

    # The lists.
    zs = call(p.describe_zones_with_options, pm.DescribeZonesRequest(keyword="corp", page_size=10), "DescribeZones")
    mine = [x for x in zs.zones.zone if x.zone_id == zone]
    expect(len(mine) == 1 and mine[0].record_count == len(ids) and mine[0].proxy_pattern == "ZONE",
           f"DescribeZones {zs.to_map()}")
    by_vpc = call(p.describe_zones_with_options, pm.DescribeZonesRequest(query_vpc_id=vpc_b), "DescribeZones")
    expect(by_vpc.total_items == 0, f"DescribeZones QueryVpcId={vpc_b}: {by_vpc.to_map()}")
    info = call(p.describe_zone_info_with_options, pm.DescribeZoneInfoRequest(zone_id=zone), "DescribeZoneInfo")
    expect([v.vpc_id for v in info.bind_vpcs.vpc] == [vpc_a] and info.zone_name == "corp.example",
           f"DescribeZoneInfo {info.to_map()}")
    recs = call(p.describe_zone_records_with_options,
                pm.DescribeZoneRecordsRequest(zone_id=zone, page_size=100), "DescribeZoneRecords")
    got = {(x.rr, x.type, x.value, x.status) for x in recs.records.record}
    expect(("db", "A", "10.30.1.50", "ENABLE") in got and ("@", "MX", "mail.corp.example", "ENABLE") in got
           and recs.total_items == len(ids), f"DescribeZoneRecords {recs.to_map()}")
    exact = call(p.describe_zone_records_with_options, pm.DescribeZoneRecordsRequest(
        zone_id=zone, keyword="db", search_mode="EXACT"), "DescribeZoneRecords")
    expect([x.record_id for x in exact.records.record] == [ids["db"]], f"EXACT db: {exact.to_map()}")

    # Refusals.
    r.expect("AddZoneRecord NS", "Record.Invalid.Type", 400, lambda: add(p, zone, "ns", "NS", "ns1.corp.example"))
    r.expect("AddZoneRecord CAA", "Record.Invalid.Type", 400,
             lambda: add(p, zone, "caa", "CAA", '0 issue "ca.example"'))
    r.expect("AddZoneRecord A bad value", "Record.Invalid.Value", 400, lambda: add(p, zone, "x", "A", "10.30.1"))
    r.expect("AddZoneRecord bad Rr", "Record.Invalid.Rr", 400, lambda: add(p, zone, "a..b", "A", "10.30.1.9"))
    r.expect("AddZoneRecord Ttl 1", "Record.Invalid.Ttl", 400, lambda: add(p, zone, "t", "A", "10.30.1.9", ttl=1))
    r.expect("AddZoneRecord twice", "Record.Exists", 400, lambda: add(p, zone, "db", "A", "10.30.1.50"))
    r.expect("AddZoneRecord beside a CNAME", "Record.Conflict", 400, lambda: add(p, zone, "www", "A", "10.30.1.9"))
    r.expect("AddZoneRecord unknown zone", "Zone.Invalid.Id", 400, lambda: add(p, "0" * 32, "x", "A", "10.30.1.9"))
    r.expect("AddZoneRecord no Value", "MissingParameter", 400,
             lambda: p.add_zone_record_with_options(pm.AddZoneRecordRequest(zone_id=zone, rr="x", type="A"),
                                                    runtime()))
    r.expect("AddZone twice", "Zone.Exists", 400,
             lambda: p.add_zone_with_options(pm.AddZoneRequest(zone_name="corp.example"), runtime()))
    r.expect("AddZone bad name", "Zone.Invalid.Name", 400,
             lambda: p.add_zone_with_options(pm.AddZoneRequest(zone_name="bad..name"), runtime()))
    r.expect("DeleteZone while bound", "Zone.VpcExists", 400,
             lambda: p.delete_zone_with_options(pm.DeleteZoneRequest(zone_id=zone), runtime()))
    r.expect("BindZoneVpc unknown VPC", "InvalidVpcId.NotFound", 404,
             lambda: p.bind_zone_vpc_with_options(pm.BindZoneVpcRequest(
                 zone_id=zone, vpcs=[pm.BindZoneVpcRequestVpcs(region_id=region(), vpc_id="vpc-nope")]), runtime()))
    r.expect("SetZoneRecordStatus PAUSE", "Record.Invalid.Status", 400,
             lambda: p.set_zone_record_status_with_options(
                 pm.SetZoneRecordStatusRequest(record_id=ids["db"], status="PAUSE"), runtime()))
    r.expect("DeleteZoneRecord unknown", "Record.Invalid.Id", 400,
             lambda: p.delete_zone_record_with_options(pm.DeleteZoneRecordRequest(record_id=1), runtime()))
    return {"ok": True, "zone": zone, "instances": [inst_a, inst_b], "vpcs": [vpc_a, vpc_b],
            "records": ids, "refusals": r.results}


def cmd_status(record_id, status):
    b = call(pvtz().set_zone_record_status_with_options,
             pm.SetZoneRecordStatusRequest(record_id=int(record_id), status=status), "SetZoneRecordStatus")
    expect(b.status == status and b.record_id == int(record_id), f"SetZoneRecordStatus {b.to_map()}")
    return {"ok": True, "status": b.status}


def cmd_delete(zone):
    p = pvtz()
    call(p.bind_zone_vpc_with_options, pm.BindZoneVpcRequest(zone_id=zone, vpcs=[]), "BindZoneVpc")
    recs = call(p.describe_zone_records_with_options,
                pm.DescribeZoneRecordsRequest(zone_id=zone, page_size=100), "DescribeZoneRecords")
    for x in recs.records.record:
        d = call(p.delete_zone_record_with_options, pm.DeleteZoneRecordRequest(record_id=x.record_id),
                 "DeleteZoneRecord")
        expect(d.record_id == x.record_id, f"DeleteZoneRecord {d.to_map()}")
    d = call(p.delete_zone_with_options, pm.DeleteZoneRequest(zone_id=zone), "DeleteZone")
    expect(d.zone_id == zone, f"DeleteZone {d.to_map()}")
    left = call(p.describe_zones_with_options, pm.DescribeZonesRequest(keyword="corp.example", search_mode="EXACT"),
                "DescribeZones")
    expect(left.total_items == 0, f"after DeleteZone: {left.to_map()}")
    return {"ok": True, "deleted": len(recs.records.record)}


COMMANDS = {
    "lab": (0, cmd_lab),
    "disable": (1, lambda rid: cmd_status(rid, "DISABLE")),
    "enable": (1, lambda rid: cmd_status(rid, "ENABLE")),
    "delete": (1, cmd_delete),
}


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS or len(sys.argv) != 2 + COMMANDS[sys.argv[1]][0]:
        print(f"usage: private_zone.py {{{'|'.join(COMMANDS)}}} [ARG]", file=sys.stderr)
        return 2
    try:
        out = COMMANDS[sys.argv[1]][1](*sys.argv[2:])
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
