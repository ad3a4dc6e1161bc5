// Subscriptions through the gateway with real Solana clients: @solana/kit's
// createSolanaRpcSubscriptions (logs, slot, signature, account) and
// sendAndConfirmTransactionFactory, and @solana/web3.js v1's
// onLogs / onSlotChange / confirmTransaction, against `dualrpc sim --profile zero` (two
// endpoints, each serving PubSub from one chain; a transaction sent to either lands on that
// chain). The gateway opens each subscription on both endpoints and must forward every launch
// exactly once.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  AccountRole,
  address,
  appendTransactionMessageInstruction,
  createSolanaRpc,
  createSolanaRpcSubscriptions,
  createTransactionMessage,
  generateKeyPairSigner,
  getSignatureFromTransaction,
  getStructEncoder,
  getU32Encoder,
  getU64Encoder,
  pipe,
  sendAndConfirmTransactionFactory,
  setTransactionMessageFeePayerSigner,
  setTransactionMessageLifetimeUsingBlockhash,
  signTransactionMessageWithSigners,
} from '@solana/kit';
import { Connection, PublicKey } from '@solana/web3.js';

import { rpcResult, startGateway, startSim, stopAll } from './lib/harness.mjs';

const PUMP_FUN = '6EF8rrecthR5Dkzon8Nwu78hRvfCKubJ14M5uBEwF6P';
const SYSTEM_PROGRAM = '11111111111111111111111111111111';

let sim;
let gateway;

before(async () => {
  sim = await startSim({ profile: 'zero', seed: 3 });
  gateway = await startGateway(sim.endpoints);
  assert.ok(gateway.wsUrl, 'the gateway logs its ws_listen address');
});

after(async () => {
  const exits = await stopAll(gateway?.child, sim?.child);
  for (const { name, code, signal } of exits) {
    assert.ok(code === 0 || signal === 'SIGTERM', `${name} did not stop cleanly: code ${code}, signal ${signal}`);
  }
});

/** Checks that `signature` is a real transaction on the sim (asked directly). */
async function assertOnChain(signature) {
  const tx = await rpcResult(sim.endpoints[0].url, 'getTransaction', [
    signature,
    { commitment: 'confirmed', encoding: 'json', maxSupportedTransactionVersion: 0 },
  ]);
  assert.ok(tx, `${signature} is not on the sim's chain`);
}

describe('@solana/kit subscriptions', () => {
  test('logsNotifications: every launch once, each a real transaction', async () => {
    const subs = createSolanaRpcSubscriptions(gateway.wsUrl);
    const abort = new AbortController();
    const stream = await subs
      .logsNotifications({ mentions: [address(PUMP_FUN)] }, { commitment: 'confirmed' })
      .subscribe({ abortSignal: abort.signal });
    const seen = new Set();
    for await (const n of stream) {
      const sig = n.value.signature;
      assert.ok(!seen.has(sig), `duplicate notification for ${sig}`);
      seen.add(sig);
      assert.ok(n.context.slot > 0n);
      if (seen.size === 6) break;
    }
    abort.abort();
    for (const sig of seen) await assertOnChain(sig);
  });

  test('slotNotifications: slots go up, none twice', async () => {
    const subs = createSolanaRpcSubscriptions(gateway.wsUrl);
    const abort = new AbortController();
    const stream = await subs.slotNotifications().subscribe({ abortSignal: abort.signal });
    const slots = [];
    for await (const n of stream) {
      slots.push(n.slot);
      if (slots.length === 4) break;
    }
    abort.abort();
    for (let i = 1; i < slots.length; i++) assert.ok(slots[i] > slots[i - 1], `${slots}`);
  });

  test('signatureNotifications: once, when the launch is confirmed', async () => {
    const subs = createSolanaRpcSubscriptions(gateway.wsUrl);
    const rpc = createSolanaRpc(gateway.url);
    const signature = await confirmedLaunch(subs);
    const { value } = await rpc.getSignatureStatuses([signature]).send();
    assert.ok(value[0], 'the gateway knows the confirmed signature');
  });
});

describe('@solana/kit account subscriptions', () => {
  test('accountNotifications: a new launch\'s mint, notified when it is finalized', async () => {
    const subs = createSolanaRpcSubscriptions(gateway.wsUrl);
    const rpc = createSolanaRpc(gateway.url);
    // A launch confirmed, then the mint it created.
    const signature = await confirmedLaunch(subs);
    const tx = await rpc
      .getTransaction(signature, {
        commitment: 'confirmed',
        encoding: 'jsonParsed',
        maxSupportedTransactionVersion: 0,
      })
      .send();
    assert.ok(tx, `the gateway has no ${signature} at confirmed`);
    const mint = address(tx.meta.postTokenBalances[0].mint);
    // The mint exists at `finalized` only once its slot is finalized: that is the change.
    const abort = new AbortController();
    const stream = await subs
      .accountNotifications(mint, { commitment: 'finalized', encoding: 'base64' })
      .subscribe({ abortSignal: abort.signal });
    let notification;
    for await (const n of stream) {
      notification = n;
      break;
    }
    abort.abort();
    assert.equal(notification.value.owner, 'TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA');
    assert.ok(notification.value.lamports > 0n);
    assert.equal(notification.value.data[1], 'base64');
    // Finalized means the chain has the account at `finalized` too, asked through the gateway.
    const { value } = await rpc.getAccountInfo(mint, { commitment: 'finalized', encoding: 'base64' }).send();
    assert.ok(value, 'the mint at finalized');
    assert.ok(notification.context.slot <= BigInt(await rpc.getSlot({ commitment: 'finalized' }).send()));
  });
});

describe('@solana/kit sendAndConfirmTransactionFactory', () => {
  test('a signed transfer sent through the gateway is confirmed', async () => {
    const rpc = createSolanaRpc(gateway.url);
    const rpcSubscriptions = createSolanaRpcSubscriptions(gateway.wsUrl);
    const payer = await generateKeyPairSigner();
    const recipient = await generateKeyPairSigner();
    const { value: latestBlockhash } = await rpc.getLatestBlockhash({ commitment: 'confirmed' }).send();
    const message = pipe(
      createTransactionMessage({ version: 0 }),
      (m) => setTransactionMessageFeePayerSigner(payer, m),
      (m) => setTransactionMessageLifetimeUsingBlockhash(latestBlockhash, m),
      (m) => appendTransactionMessageInstruction(transfer(payer, recipient.address, 1_000n), m),
    );
    const transaction = await signTransactionMessageWithSigners(message);
    const signature = getSignatureFromTransaction(transaction);
    // sendTransaction, then signatureNotifications + getSignatureStatuses raced against the
    // blockhash's expiry (getEpochInfo + slotNotifications): all through the gateway.
    const sendAndConfirm = sendAndConfirmTransactionFactory({ rpc, rpcSubscriptions });
    await sendAndConfirm(transaction, { commitment: 'confirmed' });
    const { value } = await rpc.getSignatureStatuses([signature]).send();
    assert.ok(value[0], `the gateway has no status for ${signature}`);
    assert.equal(value[0].err, null);
    assert.ok(
      ['confirmed', 'finalized'].includes(value[0].confirmationStatus),
      `confirmationStatus ${value[0].confirmationStatus}`,
    );
    // The sim's own record: it landed once, in one slot, which the gateway reports.
    const direct = await rpcResult(sim.endpoints[0].url, 'getSignatureStatuses', [[signature]]);
    assert.equal(value[0].slot, BigInt(direct.value[0].slot));
  });
});

describe('@solana/web3.js v1 subscriptions', () => {
  test('onLogs and onSlotChange over wsEndpoint', async () => {
    const connection = new Connection(gateway.url, { wsEndpoint: gateway.wsUrl, commitment: 'confirmed' });
    const seen = new Set();
    let logsId;
    await new Promise((resolve, reject) => {
      logsId = connection.onLogs(
        new PublicKey(PUMP_FUN),
        (logs) => {
          if (seen.has(logs.signature)) reject(new Error(`duplicate ${logs.signature}`));
          seen.add(logs.signature);
          if (seen.size === 4) resolve();
        },
        'confirmed',
      );
    });
    await connection.removeOnLogsListener(logsId);
    for (const sig of seen) await assertOnChain(sig);
    const slots = [];
    let slotId;
    await new Promise((resolve) => {
      slotId = connection.onSlotChange((info) => {
        slots.push(info.slot);
        if (slots.length === 3) resolve();
      });
    });
    await connection.removeSlotChangeListener(slotId);
    closeSocket(connection);
    for (let i = 1; i < slots.length; i++) assert.ok(slots[i] > slots[i - 1], `${slots}`);
  });

  test('confirmTransaction resolves through the gateway', async () => {
    const connection = new Connection(gateway.url, { wsEndpoint: gateway.wsUrl, commitment: 'processed' });
    const signature = await firstLaunch(connection);
    const { blockhash, lastValidBlockHeight } = await connection.getLatestBlockhash('confirmed');
    const result = await connection.confirmTransaction(
      { signature, blockhash, lastValidBlockHeight },
      'confirmed',
    );
    closeSocket(connection);
    assert.equal(result.value.err, null);
  });
});

describe('@solana/web3.js v1 account subscriptions', () => {
  test('onAccountChange: a new launch\'s mint, notified when it is finalized', async () => {
    const connection = new Connection(gateway.url, { wsEndpoint: gateway.wsUrl, commitment: 'confirmed' });
    // A launch seen at `processed`…
    const signature = await firstLaunch(connection);
    // …awaited at `confirmed` (onSignature), then its transaction and the mint it created.
    await new Promise((resolve) => connection.onSignature(signature, resolve, 'confirmed'));
    const tx = await connection.getParsedTransaction(signature, {
      commitment: 'confirmed',
      maxSupportedTransactionVersion: 0,
    });
    assert.ok(tx, `the gateway has no ${signature} at confirmed`);
    const mint = new PublicKey(tx.meta.postTokenBalances[0].mint);
    // The mint exists at `finalized` only once its slot is finalized: that is the change.
    let id;
    const info = await new Promise((resolve) => {
      id = connection.onAccountChange(mint, resolve, 'finalized');
    });
    await connection.removeAccountChangeListener(id);
    closeSocket(connection);
    assert.equal(info.owner.toBase58(), 'TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA');
    assert.ok(info.lamports > 0);
  });
});

/**
 * A launch seen through kit's logsNotifications at `processed`, then awaited with
 * signatureNotifications at `confirmed` (one notification, no error): its signature.
 */
async function confirmedLaunch(subs) {
  const abortLogs = new AbortController();
  const logs = await subs
    .logsNotifications({ mentions: [address(PUMP_FUN)] }, { commitment: 'processed' })
    .subscribe({ abortSignal: abortLogs.signal });
  let signature;
  for await (const n of logs) {
    signature = n.value.signature;
    break;
  }
  abortLogs.abort();
  const abort = new AbortController();
  const stream = await subs
    .signatureNotifications(signature, { commitment: 'confirmed' })
    .subscribe({ abortSignal: abort.signal });
  for await (const n of stream) {
    assert.equal(n.value.err, null);
    break;
  }
  abort.abort();
  return signature;
}

/** A System Program transfer instruction (the sim does not execute it; any would do). */
function transfer(source, destination, lamports) {
  const data = getStructEncoder([
    ['instruction', getU32Encoder()],
    ['lamports', getU64Encoder()],
  ]).encode({ instruction: 2, lamports }); // SystemInstruction::Transfer
  return {
    programAddress: address(SYSTEM_PROGRAM),
    accounts: [
      { address: source.address, role: AccountRole.WRITABLE_SIGNER, signer: source },
      { address: destination, role: AccountRole.WRITABLE },
    ],
    data,
  };
}

/** The signature of the first launch web3.js sees at `processed` (listener removed). */
async function firstLaunch(connection) {
  let id;
  const signature = await new Promise((resolve) => {
    id = connection.onLogs(new PublicKey(PUMP_FUN), (logs) => resolve(logs.signature), 'processed');
  });
  await connection.removeOnLogsListener(id);
  return signature;
}

/**
 * web3.js keeps its WebSocket after the last listener is removed and reconnects it on any
 * close but an explicit one; the test closes it, without reconnecting, so nothing outlives
 * the gateway. `_rpcWebSocket` is web3.js v1's own (an rpc-websockets client).
 */
function closeSocket(connection) {
  connection._rpcWebSocket.setAutoReconnect(false);
  connection._rpcWebSocket.close();
}
