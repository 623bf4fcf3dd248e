#!/usr/bin/env node
// The kafkajs row of the interop matrix: drives kafkajs 2.2.4 (pinned in
// package.json) against one broker and prints one line per scenario, like
// interop/goclients:
//
//	RESULT kafkajs <scenario> PASS
//	RESULT kafkajs <scenario> FAIL <reason>
//
// Scenarios, in order (later ones use the topic create made): create,
// describe, produce (the exact record set of the other rows, written with the
// idempotent producer, then read back by partition from offset 0), group (the
// same records read through a consumer group, offsets committed and fetched
// back, the group deleted), delete. It exits 0 even when scenarios fail, so
// that the runner reads every line.
//
// Usage: node scenario.js --bootstrap host:port [--scenarios all|create,...] [--no-idempotent]
//
// kafkajs speaks only non-flexible protocol versions (Metadata <=6, Produce <=7,
// Fetch <=11, JoinGroup <=5, OffsetCommit <=5, ...), so this row is the one
// that checks a broker's old request versions.
//
// Two kafkajs limits shape the checks:
//   - headers are an object keyed by header name, so a repeated key is written
//     as consecutive headers (h-index=0, h-index=again, h-empty=) rather than
//     interleaved as the other rows write them; read-back compares per key, in
//     order. Null and empty stay apart in kafkajs, so they are compared
//     strictly (null key, null value, empty header value).
//   - kafkajs has no consumer without a group; the produce read-back uses
//     kafkajs's own cluster/broker layer (Metadata, then Fetch per leader), the
//     code its consumer fetches with.
'use strict'

const { Kafka, logLevel } = require('kafkajs')

const CLIENT = 'kafkajs'
const PARTITIONS = 3
const NUM_RECORDS = 30
const BASE_TIMESTAMP = 1700000000000
const SCENARIO_TIMEOUT_MS = 20000
const GROUP_TIMEOUT_MS = 30000
const ALL = ['create', 'describe', 'produce', 'group', 'delete']

function parseArgs(argv) {
  const out = { bootstrap: '', scenarios: ALL, idempotent: true }
  for (let i = 0; i < argv.length; i++) {
    switch (argv[i]) {
      case '--bootstrap':
        out.bootstrap = argv[++i] || ''
        break
      case '--scenarios': {
        const s = argv[++i] || 'all'
        out.scenarios = s === 'all' ? ALL : s.split(',')
        break
      }
      case '--no-idempotent':
        out.idempotent = false
        break
      default:
        usage()
    }
  }
  if (!out.bootstrap) usage()
  return out
}

function usage() {
  process.stderr.write(
    'usage: node scenario.js --bootstrap host:port [--scenarios all|create,describe,produce,group,delete] [--no-idempotent]\n'
  )
  process.exit(2)
}

// lastError keeps the most recent warning or error kafkajs logged, so that a
// scenario that times out (a group that never forms) can say what kafkajs got.
// cause is the last DEBUG_KEPT message.
const lastError = { msg: '', cause: '' }

// BENIGN are warnings kafkajs always logs with this row's settings.
const BENIGN = ['Limiting retries for the idempotent producer', 'switched default partitioner']

// DEBUG_KEPT are debug messages that carry the error behind a vaguer one:
// kafkajs reports a failed FindCoordinator only as "Failed to find group
// coordinator" and logs the broker's answer at debug level.
const DEBUG_KEPT = ['Tried to find group coordinator']

function logCreator() {
  return ({ namespace, level, log }) => {
    const { message, timestamp, logger, stack, ...extra } = log
    if (level === logLevel.DEBUG) {
      if (DEBUG_KEPT.includes(message) && extra.error) lastError.cause = `${message}: ${describeError(extra.error)}`
      return
    }
    if (level > logLevel.WARN) return
    if (extra.error instanceof Error) extra.error = describeError(extra.error)
    const detail = Object.keys(extra).length ? ' ' + JSON.stringify(extra) : ''
    const line = `${namespace}: ${message}${detail}`
    process.stderr.write(`kafkajs ${logLevel[level] || level} ${line}\n`)
    if (!BENIGN.some(b => message.includes(b))) lastError.msg = line
  }
}

// describeError renders a kafkajs error with its type and its causes: a
// KafkaJSNumberOfRetriesExceeded wraps the protocol error that matters.
function describeError(err) {
  const parts = []
  const seen = new Set()
  for (let e = err; e && !seen.has(e) && parts.length < 4; e = e.originalError || e.cause) {
    seen.add(e)
    let s = e.name && e.name !== 'Error' ? `${e.name}: ${e.message}` : String(e.message || e)
    if (e.type && !s.includes(e.type)) s += ` [${e.type}]`
    parts.push(s)
  }
  return parts.join(' <- ')
}

function withLastError(err) {
  let s = describeError(err)
  if (lastError.cause && !s.includes(lastError.cause)) s += ` (${lastError.cause})`
  const m = lastError.msg
  if (m && !s.includes(m) && !(err && err.message && m.includes(err.message))) s += ` (last client error: ${m})`
  return s
}

function oneLine(s) {
  return String(s).split(/\s+/).filter(Boolean).join(' ')
}

// timeout rejects after ms, naming what did not finish.
function withTimeout(promise, ms, what) {
  let timer
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms / 1000}s`)), ms)
  })
  return Promise.race([promise, t]).finally(() => clearTimeout(timer))
}

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

async function waitFor(what, ms, cond) {
  const deadline = Date.now() + ms
  let last
  for (;;) {
    try {
      if (await cond()) return
    } catch (e) {
      last = e
    }
    if (Date.now() > deadline) {
      throw new Error(last ? `${what}: ${describeError(last)}` : `${what}: timed out`)
    }
    await sleep(100)
  }
}

// expected is the record set every producing row writes (interop/goclients
// records.go, the Java row): spread over the partitions in a fixed pattern,
// a null key, a null value, an empty header value and a repeated header key.
function expected() {
  const out = []
  const next = new Array(PARTITIONS).fill(0)
  for (let i = 0; i < NUM_RECORDS; i++) {
    const partition = i % PARTITIONS
    const headers = [
      ['h-index', String(i)],
      ['h-empty', ''],
    ]
    if (i % 5 === 0) headers.push(['h-index', 'again'])
    out.push({
      partition,
      offset: next[partition]++,
      key: i === 0 ? null : `key-${i}`,
      value: i === 1 ? null : `value-${i}-${'x'.repeat(i)}`,
      headers,
      timestamp: BASE_TIMESTAMP + i,
    })
  }
  return out
}

// headerObject turns a header list into kafkajs's form: one property per key,
// an array for a repeated key.
function headerObject(list) {
  const obj = {}
  for (const [k, v] of list) {
    if (obj[k] === undefined) obj[k] = v
    else obj[k] = [].concat(obj[k], v)
  }
  return obj
}

// showHeaders renders headers per key (keys sorted, values in order), from
// either a list of [key, string] or kafkajs's decoded object of Buffers.
function showHeaders(h) {
  const per = {}
  const add = (k, v) => (per[k] = per[k] || []).push(v === null ? 'null' : JSON.stringify(v.toString()))
  if (Array.isArray(h)) {
    for (const [k, v] of h) add(k, v)
  } else {
    for (const k of Object.keys(h || {})) for (const v of [].concat(h[k])) add(k, v)
  }
  return (
    '[' +
    Object.keys(per)
      .sort()
      .map(k => `${k}=${per[k].join(',')}`)
      .join(' ') +
    ']'
  )
}

const show = b => (b === null || b === undefined ? 'null' : JSON.stringify(b.toString()))

// compare checks that got (decoded kafkajs messages tagged with partition)
// holds exactly want: per partition, in order, at offsets 0.., with equal
// keys, values (null apart from empty), headers and timestamps.
function compare(want, got) {
  if (got.length !== want.length) throw new Error(`read ${got.length} records, want ${want.length}`)
  const by = rs => {
    const m = new Map()
    for (const r of rs) {
      if (!m.has(r.partition)) m.set(r.partition, [])
      m.get(r.partition).push(r)
    }
    for (const l of m.values()) l.sort((a, b) => Number(a.offset) - Number(b.offset))
    return m
  }
  const wantBy = by(want)
  const gotBy = by(got)
  for (const [p, ws] of wantBy) {
    const gs = gotBy.get(p) || []
    if (gs.length !== ws.length) throw new Error(`partition ${p}: ${gs.length} records, want ${ws.length}`)
    ws.forEach((w, i) => {
      const g = gs[i]
      const at = `partition ${p} offset ${g.offset}`
      if (Number(g.offset) !== w.offset) throw new Error(`${at}: want offset ${w.offset}`)
      if (show(g.key) !== show(w.key)) throw new Error(`${at}: key ${show(g.key)}, want ${show(w.key)}`)
      if (show(g.value) !== show(w.value)) throw new Error(`${at}: value ${show(g.value)}, want ${show(w.value)}`)
      if (Number(g.timestamp) !== w.timestamp) throw new Error(`${at}: timestamp ${g.timestamp}, want ${w.timestamp}`)
      if (showHeaders(g.headers) !== showHeaders(w.headers)) {
        throw new Error(`${at}: headers ${showHeaders(g.headers)}, want ${showHeaders(w.headers)}`)
      }
    })
  }
}

// clusterOf builds a kafkajs Cluster with the Kafka object's own settings:
// kafkajs keeps the factory private (a Symbol property), and has no public
// consumer without a group.
function clusterOf(kafka) {
  const sym = Object.getOwnPropertySymbols(kafka).find(s => s.description === 'private:Kafka:createCluster')
  if (!sym) throw new Error('kafkajs internals changed: no private:Kafka:createCluster')
  return kafka[sym]({ metadataMaxAge: 300000, allowAutoTopicCreation: false })
}

// readByPartition fetches every partition of topic from offset 0 until n
// records arrived, with Fetch requests sent to each partition's leader.
async function readByPartition(kafka, topic, n) {
  const cluster = clusterOf(kafka)
  await cluster.connect()
  try {
    await cluster.addTargetTopic(topic)
    await cluster.refreshMetadata()
    const next = new Map()
    for (let p = 0; p < PARTITIONS; p++) next.set(p, 0)
    const out = []
    for (let round = 0; out.length < n; round++) {
      if (round > 50) throw new Error(`read ${out.length} of ${n} records after ${round} fetches`)
      const leaders = cluster.findLeaderForPartitions(topic, [...next.keys()])
      for (const nodeId of Object.keys(leaders)) {
        const broker = await cluster.findBroker({ nodeId })
        const { responses } = await broker.fetch({
          maxWaitTime: 200,
          minBytes: 1,
          maxBytes: 1 << 20,
          isolationLevel: 0, // read uncommitted, as the other rows
          topics: [
            {
              topic,
              partitions: leaders[nodeId].map(p => ({
                partition: p,
                fetchOffset: String(next.get(p)),
                maxBytes: 1 << 20,
              })),
            },
          ],
        })
        for (const { partitions } of responses) {
          for (const pd of partitions) {
            if (pd.errorCode !== 0) throw new Error(`fetch partition ${pd.partition}: error code ${pd.errorCode}`)
            for (const m of pd.messages) {
              if (Number(m.offset) < next.get(pd.partition) || m.isControlRecord) continue
              out.push({ ...m, partition: pd.partition })
              next.set(pd.partition, Number(m.offset) + 1)
            }
          }
        }
      }
    }
    return out
  } finally {
    await cluster.disconnect()
  }
}

function newKafka(bootstrap) {
  return new Kafka({
    clientId: 'interop-kafkajs',
    brokers: bootstrap.split(','),
    logLevel: logLevel.DEBUG, // logCreator keeps warnings, errors and DEBUG_KEPT
    logCreator,
    connectionTimeout: 3000,
    requestTimeout: 10000,
    retry: { initialRetryTime: 200, maxRetryTime: 2000, retries: 5 },
  })
}

const scenarios = {
  async create({ admin, topic }) {
    const created = await admin.createTopics({
      topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 1 }],
      waitForLeaders: true,
      timeout: 10000,
    })
    if (!created) throw new Error('createTopics returned false (topic already existed)')
    await waitFor('topic listed after create', 10000, async () => (await admin.listTopics()).includes(topic))
  },

  // describe reads the topic's metadata (partition count, leaders; kafkajs's
  // Metadata <= v6 has no topic ids) and its offsets (ListOffsets): a new
  // topic is empty, earliest = latest = 0.
  async describe({ admin, topic }) {
    const md = await admin.fetchTopicMetadata({ topics: [topic] })
    const t = md.topics.find(x => x.name === topic)
    if (!t) throw new Error('topic missing from metadata')
    if (t.partitions.length !== PARTITIONS) throw new Error(`${t.partitions.length} partitions, want ${PARTITIONS}`)
    for (const p of t.partitions) {
      if (p.partitionErrorCode !== 0) throw new Error(`partition ${p.partitionId}: error code ${p.partitionErrorCode}`)
      if (!(p.leader >= 0)) throw new Error(`partition ${p.partitionId} has no leader`)
    }
    // Apache Kafka can answer NOT_LEADER_FOR_PARTITION for a moment after
    // create (its metadata cache trails the controller): retry what kafkajs
    // marks retriable, report the last error otherwise.
    let offsets
    for (let tries = 1; ; tries++) {
      try {
        offsets = await admin.fetchTopicOffsets(topic)
        break
      } catch (e) {
        if (!e.retriable || tries === 20) throw e
        await sleep(250)
      }
    }
    if (offsets.length !== PARTITIONS) throw new Error(`ListOffsets: ${offsets.length} partitions, want ${PARTITIONS}`)
    for (const o of offsets) {
      if (o.low !== '0' || o.high !== '0') {
        throw new Error(`ListOffsets partition ${o.partition}: earliest ${o.low}, latest ${o.high}, want 0, 0`)
      }
    }
  },

  async produce({ kafka, topic, idempotent }) {
    const want = expected()
    const producer = kafka.producer({
      idempotent,
      maxInFlightRequests: idempotent ? 1 : undefined,
      allowAutoTopicCreation: false,
      createPartitioner: () => ({ message }) => message.partition, // every message names its partition
    })
    await producer.connect()
    try {
      const acks = await producer.send({
        topic,
        acks: -1,
        messages: want.map(r => ({
          partition: r.partition,
          key: r.key,
          value: r.value,
          headers: headerObject(r.headers),
          timestamp: String(r.timestamp),
        })),
      })
      // One batch per partition, the topic was empty: every batch starts at 0.
      for (const a of acks) {
        if (a.errorCode !== 0) throw new Error(`produce partition ${a.partition}: error code ${a.errorCode}`)
        if (a.baseOffset !== '0') throw new Error(`partition ${a.partition} acked at base offset ${a.baseOffset}, want 0`)
      }
      if (acks.length !== PARTITIONS) throw new Error(`${acks.length} partitions acked, want ${PARTITIONS}`)
    } catch (e) {
      throw new Error(`produce: ${withLastError(e)}`)
    } finally {
      await producer.disconnect()
    }
    let got
    try {
      got = await readByPartition(kafka, topic, want.length)
    } catch (e) {
      throw new Error(`read: ${withLastError(e)}`)
    }
    compare(want, got)
  },

  // group reads the records as the only member of a new group, commits the
  // next offset of every partition, leaves, fetches the committed offsets
  // back with the admin client and deletes the group.
  async group({ kafka, admin, topic }) {
    const want = expected()
    const groupId = `interop-kafkajs-group-${randomID()}`
    const consumer = kafka.consumer({
      groupId,
      sessionTimeout: 10000,
      heartbeatInterval: 1000,
      maxWaitTimeInMs: 500,
      allowAutoTopicCreation: false,
      // kafkajs restarts a consumer that crashed on a retriable error (a
      // coordinator still loading on a fresh broker); the crash is logged, and
      // a timeout reports it as the last client error.
      retry: { initialRetryTime: 200, maxRetryTime: 2000, retries: 5, restartOnFailure: async () => true },
    })
    const got = []
    let done, failed
    const finished = new Promise((resolve, reject) => {
      done = resolve
      failed = reject
    })
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (!payload.restart) failed(payload.error)
    })
    try {
      await consumer.connect()
      await consumer.subscribe({ topics: [topic], fromBeginning: true })
      await consumer.run({
        autoCommit: false,
        eachMessage: async ({ partition, message }) => {
          got.push({ ...message, partition })
          if (got.length >= want.length) done()
        },
      })
      await withTimeout(finished, GROUP_TIMEOUT_MS - 5000, `read ${got.length} of ${want.length} records`).catch(e => {
        throw new Error(e.message.replace(/read \d+ of/, `read ${got.length} of`))
      })
      compare(want, got)
      const next = {}
      for (const m of got) next[m.partition] = Math.max(next[m.partition] || 0, Number(m.offset) + 1)
      await consumer.commitOffsets(
        Object.keys(next).map(p => ({ topic, partition: Number(p), offset: String(next[p]) }))
      )
    } catch (e) {
      throw new Error(withLastError(e))
    } finally {
      await consumer.disconnect().catch(() => {})
    }
    let fetched
    try {
      fetched = await admin.fetchOffsets({ groupId, topics: [topic] })
    } catch (e) {
      throw new Error(`fetch offsets: ${withLastError(e)}`)
    }
    const committed = {}
    for (const t of fetched) {
      if (t.topic !== topic) continue
      for (const p of t.partitions) committed[p.partition] = p.offset
    }
    const per = {}
    for (const r of want) per[r.partition] = (per[r.partition] || 0) + 1
    for (const p of Object.keys(per)) {
      if (committed[p] !== String(per[p])) {
        throw new Error(`partition ${p} committed offset ${committed[p]}, want ${per[p]}`)
      }
    }
    try {
      await admin.deleteGroups([groupId])
    } catch (e) {
      throw new Error(`delete group: ${withLastError(e)}`)
    }
  },

  async delete({ admin, topic }) {
    await admin.deleteTopics({ topics: [topic], timeout: 10000 })
    await waitFor('topic gone after delete', 10000, async () => !(await admin.listTopics()).includes(topic))
  },
}

function randomID() {
  return require('crypto').randomBytes(4).toString('hex')
}

async function main() {
  const args = parseArgs(process.argv.slice(2))
  const report = (scenario, err) => {
    if (!err) process.stdout.write(`RESULT ${CLIENT} ${scenario} PASS\n`)
    else process.stdout.write(`RESULT ${CLIENT} ${scenario} FAIL ${oneLine(err)}\n`)
  }
  const kafka = newKafka(args.bootstrap)
  const admin = kafka.admin()
  const topic = `interop-kafkajs-${randomID()}`
  let createErr = ''
  try {
    await withTimeout(admin.connect(), SCENARIO_TIMEOUT_MS, 'admin connect')
  } catch (e) {
    createErr = `admin connect: ${withLastError(e)}`
  }
  for (const s of args.scenarios) {
    if (createErr) {
      report(s, s === 'create' ? createErr : `create failed: ${createErr}`)
      continue
    }
    const fn = scenarios[s]
    if (!fn) {
      report(s, `unknown scenario ${JSON.stringify(s)}`)
      continue
    }
    lastError.msg = ''
    lastError.cause = ''
    const start = Date.now()
    let err = ''
    try {
      const timeout = s === 'group' ? GROUP_TIMEOUT_MS : SCENARIO_TIMEOUT_MS
      await withTimeout(fn({ kafka, admin, topic, idempotent: args.idempotent }), timeout, s)
    } catch (e) {
      err = e instanceof Error && /^(produce|read|fetch offsets|delete group):/.test(e.message) ? e.message : withLastError(e)
    }
    process.stderr.write(`kafkajs: ${s} took ${Date.now() - start}ms\n`)
    if (s === 'create' && err) createErr = err
    report(s, err)
  }
  await admin.disconnect().catch(() => {})
}

main().then(
  () => process.exit(0),
  e => {
    process.stderr.write(`kafkajs: ${e && e.stack ? e.stack : e}\n`)
    process.exit(1)
  }
)
