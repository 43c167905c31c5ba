#!/usr/bin/env python3
"""The request parameters the installed official SDKs can send, per action.

Reads each product's generated client (alibabacloud_vpc20160428,
alibabacloud_ecs20140526, alibabacloud_nlb20220430,
alibabacloud_privatelink20200415, alibabacloud_pvtz20180101): every
`<action>_with_options` method copies the request's fields into `query[...]` /
`body[...]` (or `body_flat[...]`, flattened to `Name.N.Field`) under the cloud's names and
names the action and version in its `Params(...)`. Prints JSON
{"<version>": {"<Action>": ["Param", ...]}}; with an action name, only it.
"""
import importlib, inspect, json, re, sys

PRODUCTS = ["alibabacloud_vpc20160428", "alibabacloud_ecs20140526", "alibabacloud_nlb20220430",
            "alibabacloud_privatelink20200415",
            "alibabacloud_pvtz20180101"]

METHOD = re.compile(r"\n    def (\w+)_with_options\(\n(.*?)\n        return ", re.S)
PARAM = re.compile(r"(?:query|body)(?:_flat)?\['([A-Za-z0-9_]+)'\]\s*=")
ACTION = re.compile(r"action = '(\w+)'")
VERSION = re.compile(r"version = '([\d-]+)'")


def models():
    out = {}
    for pkg in PRODUCTS:
        src = inspect.getsource(importlib.import_module(pkg + ".client"))
        for m in METHOD.finditer(src):
            body = m.group(2)
            a, v = ACTION.search(body), VERSION.search(body)
            if not a or not v:
                continue
            out.setdefault(v.group(1), {})[a.group(1)] = sorted(set(PARAM.findall(body)))
    return out


if __name__ == "__main__":
    all_models = models()
    if len(sys.argv) > 1:
        for version, actions in all_models.items():
            if sys.argv[1] in actions:
                print(version, " ".join(actions[sys.argv[1]]))
    else:
        json.dump(all_models, sys.stdout, indent=1, sort_keys=True)
