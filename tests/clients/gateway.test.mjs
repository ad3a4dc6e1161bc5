// The dualrpc gateway, driven by real Solana JavaScript clients: @solana/kit and
// @solana/web3.js v1. A `dualrpc sim --profile zero` cluster is the upstream; the gateway sits
// in front of its endpoints. Every client call goes through the gateway, and its decoded result
// is checked against the ground truth: the very same JSON-RPC request body (recorded from the
// client) sent straight to a sim endpoint with plain fetch.
//
// Determinism: processes are awaited through what they print; the data compared exactly is
// history the sim created before it started (immutable); values that move with the chain
// (slots, blockhashes) are bracketed between two direct calls.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  AccountRole,
  SOLANA_ERROR__JSON_RPC__INVALID_PARAMS,
  SOLANA_ERROR__JSON_RPC__SERVER_ERROR_UNSUPPORTED_TRANSACTION_VERSION,
  address,
  appendTransactionMessageInstruction,
  createDefaultRpcTransport,
  createSolanaRpc,
  createSolanaRpcFromTransport,
  createTransactionMessage,
  generateKeyPairSigner,
  getBase58Decoder,
  getBase64EncodedWireTransaction,
  getSignatureFromTransaction,
  getStructEncoder,
  getU32Encoder,
  getU64Encoder,
  isSolanaError,
  pipe,
  setTransactionMessageFeePayerSigner,
  setTransactionMessageLifetimeUsingBlockhash,
  signTransactionMessageWithSigners,
} from '@solana/kit';
import {
  Connection,
  Keypair,
  PublicKey,
  SystemProgram,
  Transaction,
} from '@solana/web3.js';

import { postJson, rpc, rpcResult, startGateway, startSim, stopAll } from './lib/harness.mjs';

const PUMP_FUN = '6EF8rrecthR5Dkzon8Nwu78hRvfCKubJ14M5uBEwF6P';
const TOKEN_PROGRAM = 'TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA';
const SYSTEM_PROGRAM = '11111111111111111111111111111111';
/** Not base58 at all: agave (and the sim) answer -32602. */
const BAD_SIGNATURE = 'not-a-signature';
/** Attempts at bracketing a moving value between two direct reads of the same slot. */
const BRACKET_ATTEMPTS = 25;

const base58Decoder = getBase58Decoder();
/** Bytes to a base58 string. */
const base58 = (bytes) => base58Decoder.decode(bytes);

let sim;
let gateway;
let names; // endpoint names
let simUrl; // one sim endpoint: the ground truth
let gatewayUrl;
/** Fixtures read directly from the sim, all from the pre-created (immutable) history. */
const fx = {};

/** Deep copy with every BigInt turned into a Number (kit decodes u64s to BigInt). */
function plain(value) {
  if (typeof value === 'bigint') return Number(value);
  if (Array.isArray(value)) return value.map(plain);
  if (value && typeof value === 'object' && !(value instanceof Uint8Array)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  }
  return value;
}

/** Sends a recorded request body (string or object, single or batch) straight to the sim. */
async function replay(body) {
  const { status, json } = await postJson(simUrl, body);
  assert.equal(status, 200, `direct replay answered HTTP ${status}`);
  return json;
}

/** The `result` of replaying one recorded single request; fails on a JSON-RPC error. */
async function replayResult(body) {
  const json = await replay(body);
  assert.ok(!json.error, `direct replay failed: ${JSON.stringify(json.error)}`);
  return json.result;
}

/** A kit RPC through the gateway whose transport records each JSON-RPC payload it sends. */
function recordingKit(url) {
  const sent = [];
  const inner = createDefaultRpcTransport({ url });
  const transport = (request) => {
    sent.push(request.payload);
    return inner(request);
  };
  return { rpc: createSolanaRpcFromTransport(transport), sent, last: () => sent.at(-1) };
}

/** A web3.js v1 Connection through the gateway that records each request body it sends. */
function recordingWeb3(url) {
  const sent = [];
  const connection = new Connection(url, {
    commitment: 'confirmed',
    disableRetryOnRateLimit: true,
    fetchMiddleware: (info, init, next) => {
      sent.push(init.body);
      next(info, init);
    },
  });
  return { connection, sent, last: () => sent.at(-1) };
}

/**
 * Runs `clientCall` between two direct replays of the request it sends, until both direct
 * reads saw the same context slot: then the gateway's answer must be exactly that one.
 * Returns `{ got, truth }` (truth = the direct `result`).
 */
async function bracketed(client, clientCall, slotOf) {
  await clientCall(); // records the request body to replay
  for (let attempt = 0; attempt < BRACKET_ATTEMPTS; attempt++) {
    const truthBefore = await replayResult(client.last());
    const got = await clientCall();
    const truthAfter = await replayResult(client.last());
    const [lo, mid, hi] = [slotOf(truthBefore), slotOf(got), slotOf(truthAfter)].map(Number);
    assert.ok(lo <= mid && mid <= hi, `gateway slot ${mid} not within the direct reads [${lo}, ${hi}]`);
    if (lo === hi) return { got, truth: truthAfter };
  }
  assert.fail(`the chain moved during each of ${BRACKET_ATTEMPTS} bracketed reads`);
}

before(async () => {
  sim = await startSim({ profile: 'zero', seed: 1 });
  names = sim.endpoints.map((e) => e.name);
  assert.ok(names.length >= 2, `expected several sim endpoints, got ${names}`);
  simUrl = sim.endpoints[0].url;
  gateway = await startGateway(sim.endpoints);
  gatewayUrl = gateway.url;

  // Ground truth from the history the sim made at start: a signature ~150 deep is the
  // `before` anchor, so the page below it never changes.
  const recent = await rpcResult(simUrl, 'getSignaturesForAddress', [
    PUMP_FUN,
    { commitment: 'confirmed', limit: 200 },
  ]);
  assert.equal(recent.length, 200, 'the sim should start with ~1000 transactions of history');
  fx.anchor = recent[150].signature;
  fx.pageParams = { before: fx.anchor, limit: 10 };
  fx.page = await rpcResult(simUrl, 'getSignaturesForAddress', [
    PUMP_FUN,
    { commitment: 'confirmed', ...fx.pageParams },
  ]);
  assert.equal(fx.page.length, 10);
  fx.signatures = fx.page.map((s) => s.signature);
  fx.txs = [];
  for (const signature of fx.signatures.slice(0, 3)) {
    const tx = await rpcResult(simUrl, 'getTransaction', [
      signature,
      { commitment: 'confirmed', encoding: 'jsonParsed', maxSupportedTransactionVersion: 0 },
    ]);
    assert.ok(tx, `the sim has no transaction ${signature}`);
    fx.txs.push(tx);
  }
  fx.mints = fx.txs.map((tx) => tx.meta.postTokenBalances[0].mint);
  fx.unknownAddress = Keypair.generate().publicKey.toBase58();
  fx.unknownSignature = base58(Keypair.generate().secretKey); // 64 random bytes
  fx.badSignatureError = (
    await rpc(simUrl, 'getTransaction', [
      BAD_SIGNATURE,
      { commitment: 'confirmed', encoding: 'jsonParsed', maxSupportedTransactionVersion: 0 },
    ])
  ).error;
  assert.equal(fx.badSignatureError?.code, -32602, 'the sim should refuse a malformed signature');
});

after(async () => {
  const exits = await stopAll(gateway?.child, sim?.child);
  for (const { name, code, signal } of exits) {
    assert.ok(code === 0 || signal === 'SIGTERM', `${name} did not stop cleanly: code ${code}, signal ${signal}`);
  }
});

describe('the gateway over plain HTTP (fetch)', () => {
  test('names the endpoint that answered and the strategy in response headers', async () => {
    const body = { jsonrpc: '2.0', id: 1, method: 'getSlot', params: [{ commitment: 'confirmed' }] };
    const res = await postJson(gatewayUrl, body);
    assert.equal(res.status, 200);
    assert.equal(typeof res.json.result, 'number');
    assert.ok(names.includes(res.headers.get('x-dualrpc-endpoint')), res.headers.get('x-dualrpc-endpoint'));
    assert.ok(res.headers.get('x-dualrpc-strategy'), 'x-dualrpc-strategy header missing');
    assert.ok(Number(res.headers.get('x-dualrpc-attempts')) >= 1);

    const raced = await postJson(gatewayUrl, body, { 'x-dualrpc-strategy': 'race' });
    assert.equal(raced.status, 200);
    assert.equal(raced.headers.get('x-dualrpc-strategy'), 'race');
    assert.ok(names.includes(raced.headers.get('x-dualrpc-endpoint')));
    assert.ok(raced.json.result >= res.json.result, 'slot went backwards');
  });

  test('forwards a deterministic upstream error unchanged', async () => {
    const body = {
      jsonrpc: '2.0',
      id: 7,
      method: 'getTransaction',
      params: [BAD_SIGNATURE, { commitment: 'confirmed', maxSupportedTransactionVersion: 0 }],
    };
    const [viaGateway, direct] = [await postJson(gatewayUrl, body), await postJson(simUrl, body)];
    assert.equal(viaGateway.status, 200);
    assert.deepEqual(viaGateway.json, direct.json);
    assert.equal(viaGateway.json.error.code, -32602);
    assert.ok(names.includes(viaGateway.headers.get('x-dualrpc-endpoint')));
  });

  test('answers a mixed JSON-RPC batch in order, like the upstream', async () => {
    const batch = [
      { jsonrpc: '2.0', id: 'sigs', method: 'getSignaturesForAddress', params: [PUMP_FUN, { commitment: 'confirmed', ...fx.pageParams }] },
      { jsonrpc: '2.0', id: 'bad', method: 'getTransaction', params: [BAD_SIGNATURE, { commitment: 'confirmed', maxSupportedTransactionVersion: 0 }] },
      { jsonrpc: '2.0', id: 3, method: 'getTransaction', params: [fx.signatures[0], { commitment: 'confirmed', encoding: 'jsonParsed', maxSupportedTransactionVersion: 0 }] },
      { jsonrpc: '2.0', id: 4, method: 'getSlot', params: [{ commitment: 'confirmed' }] },
    ];
    const viaGateway = await postJson(gatewayUrl, batch);
    const direct = await postJson(simUrl, batch);
    assert.equal(viaGateway.status, 200);
    assert.ok(Array.isArray(viaGateway.json) && viaGateway.json.length === 4);
    assert.deepEqual(viaGateway.json.map((r) => r.id), ['sigs', 'bad', 3, 4]);
    assert.deepEqual(viaGateway.json.slice(0, 3), direct.json.slice(0, 3));
    assert.ok(viaGateway.json[3].result <= direct.json[3].result);
    const endpoints = viaGateway.headers.get('x-dualrpc-endpoint').split(',');
    assert.equal(endpoints.length, 4, 'one x-dualrpc-endpoint entry per answered element');
    for (const e of endpoints) assert.ok(names.includes(e), e);
  });
});

describe('@solana/kit', () => {
  let kit;
  before(() => {
    kit = recordingKit(gatewayUrl);
  });

  test('createSolanaRpc(gateway): getVersion, getHealth, getSlot', async () => {
    const rpcPlain = createSolanaRpc(gatewayUrl);
    assert.deepEqual(await rpcPlain.getVersion().send(), await rpcResult(simUrl, 'getVersion', []));
    assert.equal(await rpcPlain.getHealth().send(), 'ok');
    const before = await rpcResult(simUrl, 'getSlot', [{ commitment: 'confirmed' }]);
    const slot = await rpcPlain.getSlot({ commitment: 'confirmed' }).send();
    const after = await rpcResult(simUrl, 'getSlot', [{ commitment: 'confirmed' }]);
    assert.equal(typeof slot, 'bigint');
    assert.ok(before <= slot && slot <= after, `${before} <= ${slot} <= ${after}`);
  });

  test('getSlot', async () => {
    const { got, truth } = await bracketed(kit, () => kit.rpc.getSlot({ commitment: 'confirmed' }).send(), (s) => s);
    assert.equal(kit.last().method, 'getSlot');
    assert.equal(got, BigInt(truth));
  });

  test('getLatestBlockhash', async () => {
    const { got, truth } = await bracketed(
      kit,
      () => kit.rpc.getLatestBlockhash({ commitment: 'confirmed' }).send(),
      (r) => r.context.slot,
    );
    assert.deepEqual(plain(got), truth);
    assert.match(got.value.blockhash, /^[1-9A-HJ-NP-Za-km-z]{32,44}$/);
    assert.equal(typeof got.value.lastValidBlockHeight, 'bigint');
    assert.ok(got.value.lastValidBlockHeight > 0n);
  });

  test('getAccountInfo of a launchpad mint (jsonParsed and base64) and of an unknown account', async () => {
    const mint = address(fx.mints[0]);
    const parsed = await kit.rpc.getAccountInfo(mint, { commitment: 'confirmed', encoding: 'jsonParsed' }).send();
    const parsedTruth = await replayResult(kit.last());
    assert.deepEqual(plain(parsed.value), parsedTruth.value);
    assert.ok(parsed.context.slot <= BigInt(parsedTruth.context.slot));
    assert.equal(parsed.value.owner, TOKEN_PROGRAM);
    assert.equal(parsed.value.data.parsed.type, 'mint');
    assert.equal(parsed.value.data.parsed.info.decimals, 6);

    const raw = await kit.rpc.getAccountInfo(mint, { commitment: 'confirmed', encoding: 'base64' }).send();
    const rawTruth = await replayResult(kit.last());
    assert.deepEqual(plain(raw.value), rawTruth.value);
    const [b64, encoding] = raw.value.data;
    assert.equal(encoding, 'base64');
    const bytes = Buffer.from(b64, 'base64');
    assert.equal(bytes.length, 82, 'an SPL mint account is 82 bytes');
    // The binary and the parsed views agree: supply (u64 at 36) and decimals (u8 at 44).
    assert.equal(bytes.readBigUInt64LE(36).toString(), parsed.value.data.parsed.info.supply);
    assert.equal(bytes[44], parsed.value.data.parsed.info.decimals);
    assert.equal(raw.value.lamports, parsed.value.lamports);

    const none = await kit.rpc.getAccountInfo(address(fx.unknownAddress), { commitment: 'confirmed', encoding: 'base64' }).send();
    assert.equal(none.value, null);
    assert.equal((await replayResult(kit.last())).value, null);
  });

  test('getMultipleAccounts', async () => {
    const keys = [fx.mints[0], fx.unknownAddress, fx.mints[1]].map((k) => address(k));
    for (const encoding of ['base64', 'jsonParsed']) {
      const got = await kit.rpc.getMultipleAccounts(keys, { commitment: 'confirmed', encoding }).send();
      const truth = await replayResult(kit.last());
      assert.equal(got.value.length, 3);
      assert.equal(got.value[1], null);
      assert.deepEqual(plain(got.value), truth.value);
    }
  });

  test('getSignaturesForAddress (confirmed, limit 10, before a known signature)', async () => {
    const got = await kit.rpc
      .getSignaturesForAddress(address(PUMP_FUN), { commitment: 'confirmed', ...fx.pageParams })
      .send();
    const truth = await replayResult(kit.last());
    assert.equal(got.length, 10);
    assert.deepEqual(new Set(got.map((s) => s.signature)), new Set(truth.map((s) => s.signature)));
    assert.deepEqual(plain(got), truth);
    assert.deepEqual(got.map((s) => s.signature), fx.signatures);
  });

  test('getTransaction (jsonParsed, maxSupportedTransactionVersion 0)', async () => {
    const got = await kit.rpc
      .getTransaction(fx.signatures[0], {
        commitment: 'confirmed',
        encoding: 'jsonParsed',
        maxSupportedTransactionVersion: 0,
      })
      .send();
    const truth = await replayResult(kit.last());
    assert.deepEqual(plain(got), truth);
    assert.equal(got.slot, BigInt(fx.page[0].slot));
    assert.equal(got.blockTime, BigInt(fx.page[0].blockTime));
    assert.equal(got.meta.postTokenBalances[0].mint, fx.mints[0]);
    assert.equal(got.transaction.signatures[0], fx.signatures[0]);
  });

  test('getSignatureStatuses (with history, plus an unknown signature)', async () => {
    const sigs = [...fx.signatures.slice(0, 3), fx.unknownSignature];
    const got = await kit.rpc.getSignatureStatuses(sigs, { searchTransactionHistory: true }).send();
    const truth = await replayResult(kit.last());
    assert.deepEqual(plain(got.value), truth.value);
    assert.equal(got.value[3], null);
    for (const [i, status] of got.value.slice(0, 3).entries()) {
      assert.equal(status.slot, BigInt(fx.page[i].slot));
      assert.equal(status.err, null);
    }
    assert.ok(got.context.slot <= BigInt(truth.context.slot));
  });

  test('sendTransaction of a real signed v0 transfer (base64, skipPreflight)', async () => {
    const payer = await generateKeyPairSigner();
    const recipient = await generateKeyPairSigner();
    const { value: lifetime } = await createSolanaRpc(simUrl).getLatestBlockhash({ commitment: 'confirmed' }).send();
    const transferData = getStructEncoder([
      ['instruction', getU32Encoder()],
      ['lamports', getU64Encoder()],
    ]).encode({ instruction: 2, lamports: 1_000n }); // SystemInstruction::Transfer
    const message = pipe(
      createTransactionMessage({ version: 0 }),
      (m) => setTransactionMessageFeePayerSigner(payer, m),
      (m) => setTransactionMessageLifetimeUsingBlockhash(lifetime, m),
      (m) =>
        appendTransactionMessageInstruction(
          {
            programAddress: address(SYSTEM_PROGRAM),
            accounts: [
              { address: payer.address, role: AccountRole.WRITABLE_SIGNER, signer: payer },
              { address: recipient.address, role: AccountRole.WRITABLE },
            ],
            data: transferData,
          },
          m,
        ),
    );
    const signed = await signTransactionMessageWithSigners(message);
    const wire = getBase64EncodedWireTransaction(signed);
    const signature = await kit.rpc.sendTransaction(wire, { encoding: 'base64', skipPreflight: true }).send();
    assert.equal(kit.last().params[0], wire);
    assert.equal(signature, getSignatureFromTransaction(signed));
    assert.equal(signature, await replayResult(kit.last()));
  });

  test('a deterministic upstream error surfaces with the same code and message', async () => {
    await assert.rejects(
      kit.rpc
        .getTransaction(BAD_SIGNATURE, { commitment: 'confirmed', encoding: 'jsonParsed', maxSupportedTransactionVersion: 0 })
        .send(),
      (err) => {
        assert.ok(isSolanaError(err, SOLANA_ERROR__JSON_RPC__INVALID_PARAMS), String(err));
        assert.equal(err.context.__code, fx.badSignatureError.code);
        assert.equal(err.context.__serverMessage, fx.badSignatureError.message);
        return true;
      },
    );
    // Without maxSupportedTransactionVersion a v0 transaction is refused with -32015.
    const truth = (await rpc(simUrl, 'getTransaction', [fx.signatures[0], { commitment: 'confirmed', encoding: 'jsonParsed' }])).error;
    assert.equal(truth.code, -32015);
    await assert.rejects(
      kit.rpc.getTransaction(fx.signatures[0], { commitment: 'confirmed', encoding: 'jsonParsed' }).send(),
      (err) => {
        assert.ok(isSolanaError(err, SOLANA_ERROR__JSON_RPC__SERVER_ERROR_UNSUPPORTED_TRANSACTION_VERSION), String(err));
        assert.equal(err.context.__code, truth.code);
        assert.equal(err.context.__serverMessage, truth.message);
        return true;
      },
    );
  });
});

describe('@solana/web3.js v1', () => {
  let w3;
  before(() => {
    w3 = recordingWeb3(gatewayUrl);
  });

  test("new Connection(gateway, 'confirmed'): getVersion, getSlot", async () => {
    const connection = new Connection(gatewayUrl, 'confirmed');
    assert.deepEqual(await connection.getVersion(), await rpcResult(simUrl, 'getVersion', []));
    const before = await rpcResult(simUrl, 'getSlot', [{ commitment: 'confirmed' }]);
    const slot = await connection.getSlot();
    const after = await rpcResult(simUrl, 'getSlot', [{ commitment: 'confirmed' }]);
    assert.equal(typeof slot, 'number');
    assert.ok(before <= slot && slot <= after, `${before} <= ${slot} <= ${after}`);
  });

  test('getSlot', async () => {
    const { got, truth } = await bracketed(w3, () => w3.connection.getSlot(), (s) => s);
    assert.equal(JSON.parse(w3.last()).params[0].commitment, 'confirmed');
    assert.equal(got, truth);
  });

  test('getLatestBlockhash', async () => {
    const { got, truth } = await bracketed(
      w3,
      () => w3.connection.getLatestBlockhashAndContext(),
      (r) => r.context.slot,
    );
    assert.equal(got.context.slot, truth.context.slot);
    assert.deepEqual(got.value, truth.value);
    assert.match(got.value.blockhash, /^[1-9A-HJ-NP-Za-km-z]{32,44}$/);
    assert.equal(typeof got.value.lastValidBlockHeight, 'number');

    // The plain call too: same shape, and no newer than a direct read right after it.
    const plainGot = await w3.connection.getLatestBlockhash();
    const plainTruth = await replayResult(w3.last());
    assert.ok(plainGot.lastValidBlockHeight <= plainTruth.value.lastValidBlockHeight);
    assert.match(plainGot.blockhash, /^[1-9A-HJ-NP-Za-km-z]{32,44}$/);
  });

  test('getParsedAccountInfo and getAccountInfo of a launchpad mint, and an unknown account', async () => {
    const mint = new PublicKey(fx.mints[0]);
    const parsed = await w3.connection.getParsedAccountInfo(mint);
    const parsedTruth = (await replayResult(w3.last())).value;
    assert.equal(JSON.parse(w3.last()).params[1].encoding, 'jsonParsed');
    assert.ok(parsed.value.owner instanceof PublicKey);
    assert.equal(parsed.value.owner.toBase58(), parsedTruth.owner);
    assert.equal(parsed.value.owner.toBase58(), TOKEN_PROGRAM);
    assert.equal(parsed.value.lamports, parsedTruth.lamports);
    assert.equal(parsed.value.executable, parsedTruth.executable);
    assert.deepEqual(parsed.value.data, parsedTruth.data);

    const raw = await w3.connection.getAccountInfo(mint);
    const rawTruth = (await replayResult(w3.last())).value;
    assert.equal(JSON.parse(w3.last()).params[1].encoding, 'base64');
    assert.ok(Buffer.isBuffer(raw.data));
    assert.ok(raw.data.equals(Buffer.from(rawTruth.data[0], 'base64')));
    assert.equal(raw.owner.toBase58(), rawTruth.owner);
    assert.equal(raw.lamports, rawTruth.lamports);
    assert.equal(raw.data.readBigUInt64LE(36).toString(), parsed.value.data.parsed.info.supply);
    assert.equal(raw.data[44], parsed.value.data.parsed.info.decimals);

    assert.equal(await w3.connection.getAccountInfo(new PublicKey(fx.unknownAddress)), null);
    assert.equal((await replayResult(w3.last())).value, null);
  });

  test('getMultipleAccountsInfo and getMultipleParsedAccounts', async () => {
    const keys = [fx.mints[0], fx.unknownAddress, fx.mints[1]].map((k) => new PublicKey(k));
    const raw = await w3.connection.getMultipleAccountsInfo(keys);
    const rawTruth = (await replayResult(w3.last())).value;
    assert.equal(raw.length, 3);
    assert.equal(raw[1], null);
    assert.equal(rawTruth[1], null);
    for (const i of [0, 2]) {
      assert.ok(raw[i].data.equals(Buffer.from(rawTruth[i].data[0], 'base64')));
      assert.equal(raw[i].owner.toBase58(), rawTruth[i].owner);
      assert.equal(raw[i].lamports, rawTruth[i].lamports);
    }

    const parsed = await w3.connection.getMultipleParsedAccounts(keys);
    const parsedTruth = (await replayResult(w3.last())).value;
    assert.equal(parsed.value[1], null);
    for (const i of [0, 2]) {
      assert.deepEqual(parsed.value[i].data, parsedTruth[i].data);
      assert.equal(parsed.value[i].owner.toBase58(), parsedTruth[i].owner);
    }
  });

  test('getSignaturesForAddress (confirmed, limit 10, before a known signature)', async () => {
    const got = await w3.connection.getSignaturesForAddress(new PublicKey(PUMP_FUN), fx.pageParams);
    const truth = await replayResult(w3.last());
    assert.equal(JSON.parse(w3.last()).params[1].commitment, 'confirmed');
    assert.equal(got.length, 10);
    assert.deepEqual(new Set(got.map((s) => s.signature)), new Set(truth.map((s) => s.signature)));
    assert.deepEqual(got.map((s) => s.signature), fx.signatures);
    for (const [i, s] of got.entries()) {
      for (const field of ['slot', 'blockTime', 'err', 'memo', 'confirmationStatus']) {
        assert.equal(s[field], truth[i][field], `${field} of ${s.signature}`);
      }
    }
  });

  test('getParsedTransaction (jsonParsed, maxSupportedTransactionVersion 0)', async () => {
    const got = await w3.connection.getParsedTransaction(fx.signatures[0], { maxSupportedTransactionVersion: 0 });
    const truth = await replayResult(w3.last());
    const sent = JSON.parse(w3.last()).params[1];
    assert.equal(sent.encoding, 'jsonParsed');
    assert.equal(sent.maxSupportedTransactionVersion, 0);
    assert.equal(got.slot, truth.slot);
    assert.equal(got.slot, fx.page[0].slot);
    assert.equal(got.blockTime, truth.blockTime);
    assert.equal(got.version, truth.version);
    assert.equal(got.meta.postTokenBalances[0].mint, truth.meta.postTokenBalances[0].mint);
    assert.equal(got.meta.postTokenBalances[0].mint, fx.mints[0]);
    assert.equal(got.meta.fee, truth.meta.fee);
    assert.deepEqual(got.meta.logMessages, truth.meta.logMessages);
    assert.deepEqual(got.transaction.signatures, truth.transaction.signatures);
    assert.equal(got.transaction.message.recentBlockhash, truth.transaction.message.recentBlockhash);
    assert.deepEqual(
      got.transaction.message.accountKeys.map((k) => k.pubkey.toBase58()),
      truth.transaction.message.accountKeys.map((k) => k.pubkey),
    );
  });

  test('getParsedTransactions goes out as one JSON-RPC batch', async () => {
    const sigs = fx.signatures.slice(0, 3);
    const got = await w3.connection.getParsedTransactions(sigs, { maxSupportedTransactionVersion: 0 });
    const sent = JSON.parse(w3.last());
    assert.ok(Array.isArray(sent) && sent.length === 3, 'web3.js should send a batch');
    const truth = await replay(w3.last());
    assert.ok(Array.isArray(truth) && truth.length === 3);
    const truthById = new Map(truth.map((r) => [r.id, r.result]));
    for (const [i, tx] of got.entries()) {
      const t = truthById.get(sent[i].id);
      assert.equal(tx.transaction.signatures[0], sigs[i]);
      assert.equal(tx.slot, t.slot);
      assert.equal(tx.blockTime, t.blockTime);
      assert.equal(tx.meta.postTokenBalances[0].mint, t.meta.postTokenBalances[0].mint);
      assert.equal(tx.meta.postTokenBalances[0].mint, fx.mints[i]);
    }
  });

  test('getSignatureStatuses (with history, plus an unknown signature)', async () => {
    const sigs = [...fx.signatures.slice(0, 3), fx.unknownSignature];
    const got = await w3.connection.getSignatureStatuses(sigs, { searchTransactionHistory: true });
    const truth = await replayResult(w3.last());
    assert.equal(got.value.length, 4);
    assert.equal(got.value[3], null);
    assert.equal(truth.value[3], null);
    for (const i of [0, 1, 2]) {
      for (const field of ['slot', 'confirmations', 'err', 'confirmationStatus']) {
        assert.deepEqual(got.value[i][field], truth.value[i][field], `${field} of ${sigs[i]}`);
      }
      assert.equal(got.value[i].slot, fx.page[i].slot);
    }
    assert.ok(got.context.slot <= truth.context.slot);
  });

  test('sendRawTransaction of a real signed legacy transfer (skipPreflight)', async () => {
    const payer = Keypair.generate();
    const { blockhash, lastValidBlockHeight } = (
      await rpcResult(simUrl, 'getLatestBlockhash', [{ commitment: 'confirmed' }])
    ).value;
    const tx = new Transaction({ feePayer: payer.publicKey, blockhash, lastValidBlockHeight }).add(
      SystemProgram.transfer({
        fromPubkey: payer.publicKey,
        toPubkey: Keypair.generate().publicKey,
        lamports: 1_000,
      }),
    );
    tx.sign(payer);
    const signature = await w3.connection.sendRawTransaction(tx.serialize(), { skipPreflight: true });
    const sent = JSON.parse(w3.last());
    assert.equal(sent.method, 'sendTransaction');
    assert.equal(sent.params[1].encoding, 'base64');
    assert.equal(signature, base58(tx.signature));
    assert.equal(signature, await replayResult(w3.last()));
  });

  test('a deterministic upstream error surfaces with the same code and message', async () => {
    await assert.rejects(
      w3.connection.getParsedTransaction(BAD_SIGNATURE, { maxSupportedTransactionVersion: 0 }),
      (err) => {
        assert.equal(err.name, 'SolanaJSONRPCError', String(err));
        assert.equal(err.code, fx.badSignatureError.code);
        assert.ok(err.message.endsWith(`: ${fx.badSignatureError.message}`), err.message);
        return true;
      },
    );
    const truth = (await rpc(simUrl, 'getTransaction', [fx.signatures[0], { commitment: 'confirmed', encoding: 'jsonParsed' }])).error;
    await assert.rejects(w3.connection.getParsedTransaction(fx.signatures[0]), (err) => {
      assert.equal(err.code, truth.code);
      assert.equal(err.code, -32015);
      assert.ok(err.message.endsWith(`: ${truth.message}`), err.message);
      return true;
    });
  });
});
