#!/usr/bin/env node
// Drives the vpc-router daemon through the official npm client
// @alicloud/pop-core (RPC signature V1: Signature/SignatureMethod=HMAC-SHA1
// parameters), version pinned in package-lock.json.
//
// Environment (as vpc_lab.py and old_sdk.py):
//   VPC_ENDPOINT           host:port of the daemon (no scheme)
//   VPC_ACCESS_KEY_ID      access key id
//   VPC_ACCESS_KEY_SECRET  access key secret
//   VPC_REGION_ID          region (default cn-hangzhou)
//   VPC_NODE_SDK           where `cargo xtask setup` installed the packages
//                          (default /opt/vpc-router/node-sdk)
//
// Subcommands:
//   vpc           CreateVpc (POST, form body), DescribeVpcs (GET, query),
//                 DeleteVpc (POST), DescribeVpcs again; prints one JSON line
//   wrong-secret  DescribeVpcs with a corrupted secret must be refused with
//                 400 SignatureDoesNotMatch carrying the server's string to sign
//
// Exit status: 0 ok; 1 unexpected SDK/transport error; 2 usage; 3 mismatch.
'use strict';

const path = require('path');

const sdkDir = process.env.VPC_NODE_SDK || '/opt/vpc-router/node-sdk';
const RPCClient = require(path.join(sdkDir, 'node_modules', '@alicloud', 'pop-core')).RPCClient;

class Mismatch extends Error {}

function env(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`pop_core: environment variable ${name} is required`);
    process.exit(2);
  }
  return v;
}

const region = process.env.VPC_REGION_ID || 'cn-hangzhou';

function client(secret) {
  return new RPCClient({
    endpoint: `http://${env('VPC_ENDPOINT')}`,
    apiVersion: '2016-04-28',
    accessKeyId: env('VPC_ACCESS_KEY_ID'),
    accessKeySecret: secret === undefined ? env('VPC_ACCESS_KEY_SECRET') : secret,
  });
}

function expect(cond, msg) {
  if (!cond) throw new Mismatch(msg);
}

async function vpc() {
  const c = client();
  const created = await c.request('CreateVpc', { RegionId: region, CidrBlock: '10.9.0.0/16', VpcName: 'pop core', Description: "a b*c~d/e:f+g!'()" }, { method: 'POST', timeout: 5000 });
  const vpcId = created.VpcId;
  expect(typeof vpcId === 'string' && vpcId.startsWith('vpc-'), `CreateVpc: no VpcId in ${JSON.stringify(created)}`);
  const listed = await c.request('DescribeVpcs', { RegionId: region, VpcId: vpcId }, { timeout: 5000 });
  const vpcs = (listed.Vpcs && listed.Vpcs.Vpc) || [];
  expect(vpcs.length === 1 && vpcs[0].CidrBlock === '10.9.0.0/16' && vpcs[0].VpcName === 'pop core'
    && vpcs[0].Description === "a b*c~d/e:f+g!'()", `DescribeVpcs(VpcId=${vpcId}): ${JSON.stringify(listed)}`);
  await c.request('DeleteVpc', { RegionId: region, VpcId: vpcId }, { method: 'POST', timeout: 5000 });
  const after = await c.request('DescribeVpcs', { RegionId: region, VpcId: vpcId }, { timeout: 5000 });
  const left = (after.Vpcs && after.Vpcs.Vpc) || [];
  expect(left.length === 0, `DescribeVpcs after DeleteVpc still lists ${JSON.stringify(left)}`);
  console.log(JSON.stringify({ ok: true, VpcId: vpcId }));
}

async function wrongSecret() {
  const secret = env('VPC_ACCESS_KEY_SECRET');
  const bad = secret.slice(0, -1) + (secret.endsWith('B') ? 'C' : 'B');
  try {
    await client(bad).request('DescribeVpcs', { RegionId: region }, { timeout: 5000 });
  } catch (e) {
    if (!e.data) throw e; // transport error, not an API answer
    const out = { code: e.code, message: e.data.Message };
    console.log(JSON.stringify(out));
    expect(e.code === 'SignatureDoesNotMatch'
      && e.data.Message.includes('server string to sign is:GET&%2F&AccessKeyId%3D'),
      `expected SignatureDoesNotMatch with the server's string to sign, got ${JSON.stringify(e.data)}`);
    return;
  }
  throw new Mismatch('DescribeVpcs succeeded although the secret was altered');
}

const commands = { vpc, 'wrong-secret': wrongSecret };
const cmd = commands[process.argv[2]];
if (!cmd) {
  console.error(`usage: pop_core.js ${Object.keys(commands).join('|')}`);
  process.exit(2);
}
cmd().then(
  () => process.exit(0),
  (e) => {
    if (e instanceof Mismatch) {
      console.error(`pop_core: ${process.argv[2]}: MISMATCH: ${e.message}`);
      process.exit(3);
    }
    console.error(`pop_core: ${process.argv[2]}: unexpected SDK error: ${e.code || e.name}: ${e.message}`);
    process.exit(1);
  },
);
